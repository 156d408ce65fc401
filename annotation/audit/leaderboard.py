"""Which models win: Bradley-Terry strengths of the models named by Response.source, fitted to the
counted human judgements, raw and length-controlled.

P(A beats B) = sigmoid(beta_A - beta_B [+ gamma * log(len_A / len_B)]). A tie counts as half a win
for each side (as Chatbot Arena does); both_bad says nothing about which is better and is left
out. The length-controlled fit adds the log length ratio as a covariate, the way Chatbot Arena's
style control does, so beta is a model's strength with verbosity held equal. Ratings are on the
Elo scale (1000 + 400 * beta / ln 10, mean 1000). Intervals: 95% percentile bootstrap over
judgements (multinomial resampling of the aggregated cells; for the controlled fit the log length
ratio is binned into LENGTH_BINS quantile bins, each cell using its mean ratio)."""
import numpy as np

from annotation.audit.data import A, B, TIE, AuditData
from annotation.audit.stats import SEED, percentile_interval

N_BOOT = 100
LENGTH_BINS = 32
RIDGE = 1e-3  # keeps strengths finite for a model that never won or never lost
ELO = 400 / np.log(10)


def _fit(ma, mb, x, y, w, n_models, use_x, start, iterations: int = 25):
    """Weighted logistic Bradley-Terry fit by Newton's method (the Hessian is tiny: one row per
    model, plus gamma); returns (betas centred at 0, gamma, the raw parameters)."""
    P = n_models + (1 if use_x else 0)
    theta = start.copy()
    total = w.sum()
    ridge = np.full(P, 2 * RIDGE)  # on gamma too: keeps the fit defined when all lengths are equal
    for _ in range(iterations):
        gamma = theta[n_models] if use_x else 0.0
        z = theta[ma] - theta[mb] + gamma * x
        p = 1 / (1 + np.exp(-z))
        g = w * (p - y) / total
        h = w * p * (1 - p) / total
        grad = np.zeros(P)
        grad[:n_models] = np.bincount(ma, weights=g, minlength=n_models) - np.bincount(mb, weights=g, minlength=n_models)
        # Hessian of the log-loss: each cell's design row is +1 at A, -1 at B (and x at gamma).
        hess = (np.bincount(ma * P + ma, weights=h, minlength=P * P) + np.bincount(mb * P + mb, weights=h, minlength=P * P)
                - np.bincount(ma * P + mb, weights=h, minlength=P * P) - np.bincount(mb * P + ma, weights=h, minlength=P * P))
        hess = hess.reshape(P, P)
        if use_x:
            grad[-1] = (g * x).sum()
            cross = np.bincount(ma, weights=h * x, minlength=n_models) - np.bincount(mb, weights=h * x, minlength=n_models)
            hess[:n_models, -1] = hess[-1, :n_models] = cross
            hess[-1, -1] = (h * x * x).sum()
        grad += ridge * theta
        hess[np.diag_indices(P)] += ridge
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    beta = theta[:n_models] - theta[:n_models].mean()
    return beta, (float(theta[n_models]) if use_x else None), theta


def leaderboard(data: AuditData, *, n_boot: int = N_BOOT, seed: int = SEED) -> dict | None:
    sa, sb = data.source_a[data.item], data.source_b[data.item]
    use = ((data.choice == A) | (data.choice == B) | (data.choice == TIE)) & (sa >= 0) & (sb >= 0) & (sa != sb)
    if use.sum() == 0:
        return None
    present, codes = np.unique(np.concatenate([sa[use], sb[use]]), return_inverse=True)
    M = len(present)
    if M < 2:
        return None
    ma, mb = codes[: use.sum()], codes[use.sum():]
    y_class = np.where(data.choice[use] == A, 2, np.where(data.choice[use] == B, 0, 1))  # B win, tie, A win
    x = np.log(np.maximum(data.len_a[data.item][use], 1) / np.maximum(data.len_b[data.item][use], 1))
    edges = np.unique(np.quantile(x, np.linspace(0, 1, LENGTH_BINS + 1)[1:-1]))
    x_bin = np.searchsorted(edges, x)
    # Aggregate judgements into cells (model A, model B, length bin, outcome).
    cell_key = ((ma * M + mb) * (len(edges) + 1) + x_bin) * 3 + y_class
    keys, inv, counts = np.unique(cell_key, return_inverse=True, return_counts=True)
    cx = np.bincount(inv, weights=x) / counts
    c_y = (keys % 3) / 2.0
    c_pair = keys // 3 // (len(edges) + 1)
    c_ma, c_mb = c_pair // M, c_pair % M
    n_total = int(counts.sum())

    results = {}
    rng = np.random.default_rng(seed)
    resamples = rng.multinomial(n_total, counts / n_total, size=n_boot).astype(np.float64)
    for name, use_x in (("raw", False), ("length_controlled", True)):
        start = np.zeros(M + (1 if use_x else 0))
        beta, gamma, theta = _fit(c_ma, c_mb, cx, c_y, counts.astype(np.float64), M, use_x, start)
        boots = [_fit(c_ma, c_mb, cx, c_y, w, M, use_x, theta)[:2] for w in resamples]
        boot_beta = np.array([b for b, _ in boots])
        results[name] = (beta, boot_beta, gamma, np.array([g for _, g in boots]) if use_x else None)

    n_per_model = np.bincount(ma, minlength=M) + np.bincount(mb, minlength=M)
    rows = []
    for i in range(M):
        row = {"model": data.sources[present[i]], "n": int(n_per_model[i])}
        for name, (beta, boot_beta, _, _) in results.items():
            lo, hi = percentile_interval(1000 + ELO * boot_beta[:, i])
            row[name] = {"value": float(1000 + ELO * beta[i]), "low": lo, "high": hi, "n": int(n_per_model[i])}
        rows.append(row)
    for name in results:
        for rank, row in enumerate(sorted(rows, key=lambda r: -r[name]["value"]), start=1):
            row[f"rank_{name}"] = rank
    rows.sort(key=lambda r: r["rank_raw"])
    _, _, gamma, boot_gamma = results["length_controlled"]
    g_lo, g_hi = percentile_interval(boot_gamma)
    movers = sorted(rows, key=lambda r: -abs(r["raw"]["value"] - r["length_controlled"]["value"]))[:3]
    moves = ", ".join(f"{r['model']} {r['length_controlled']['value'] - r['raw']['value']:+.0f}" for r in movers)
    return {
        "models": rows,
        "n_judgements": n_total,
        "length_coef": {"value": float(gamma), "low": g_lo, "high": g_hi, "n": n_total},
        "sentence": (
            f"Bradley-Terry ratings (Elo scale) of {M} models from {n_total:,} judgements. The length-controlled fit "
            f"gives each doubling of the length ratio a log-odds effect of {gamma * np.log(2):+.2f}. Largest rating "
            f"changes once length is held equal: {moves}; what a model loses there was verbosity, not quality."
        ),
    }
