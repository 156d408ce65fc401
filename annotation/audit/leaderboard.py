"""Which models win: Bradley-Terry strengths of the models named by Response.source, fitted to the
counted human judgements, raw and length-controlled.

P(A beats B) = sigmoid(beta_A - beta_B [+ gamma * log(len_A / len_B)]). A tie counts as half a win
for each side (as Chatbot Arena does); both_bad says nothing about which is better and is left
out. The length-controlled fit adds the log length ratio as a covariate, the way Chatbot Arena's
style control does, so beta is a model's strength with verbosity held equal. Ratings are on the
Elo scale (1000 + 400 * beta / ln 10, mean 1000).

Fit: maximum likelihood on the summed log-likelihood of the judgements (as Chatbot Arena's
logistic regression does), with a tiny fixed Gaussian prior (precision PRIOR_PRECISION) whose only
job is to keep a model that never won or never lost finite; its pull does not grow with the
number of judgements.
Intervals: 95% percentile bootstrap over pairs (N_BOOT resamples): the judgements of one pair are
correlated, so a pair and all its judgements are drawn together. Judgements are aggregated into
cells (model A, model B, length bin, outcome); for the controlled fit the log length ratio is
binned into LENGTH_BINS quantile bins, each cell using its mean ratio. All resamples are fitted at
once, by batched Newton steps."""
import numpy as np
from scipy import sparse
from scipy.special import expit

from annotation.audit.data import A, B, TIE, AuditData
from annotation.audit.stats import N_BOOT, SEED, ItemBootstrap, percentile_interval

LENGTH_BINS = 32
PRIOR_PRECISION = 1e-4  # on the summed log-likelihood: sd 100 in log-odds, nothing against real data
ELO = 400 / np.log(10)
MAX_CELLS_X_RESAMPLES = 20_000_000  # resamples fitted together: bounds the (resamples, cells) arrays


def _fit(ma, mb, x, y, w, n_models, use_x, start, iterations: int = 100):
    """Weighted logistic Bradley-Terry fits by Newton's method, one per row of the cell weights
    w (R, C), all at once (each Hessian is tiny: one row per model, plus gamma). Returns (betas
    centred at 0 (R, M), gamma (R,) or None, the raw parameters (R, P))."""
    M, C, R = n_models, len(ma), len(w)
    P = M + (1 if use_x else 0)
    theta = np.array(np.broadcast_to(start, (R, P)), dtype=np.float64)
    # cell -> ordered model pair, to sum the cells' gradient and curvature per pair of models
    to_pair = sparse.csr_matrix((np.ones(C), (np.arange(C), ma * M + mb)), shape=(C, M * M)).T.tocsr()
    eye = np.eye(P)
    for _ in range(iterations):
        z = theta[:, ma] - theta[:, mb]  # (R, C)
        if use_x:
            z += theta[:, M:] * x
        p = expit(z)
        g = w * (p - y)  # (R, C) gradient of the negative log-likelihood per cell
        h = w * p * (1 - p)
        g_pair = (to_pair @ g.T).T.reshape(R, M, M)
        h_pair = (to_pair @ h.T).T.reshape(R, M, M)
        h_sym = h_pair + h_pair.transpose(0, 2, 1)
        grad = np.zeros((R, P))
        grad[:, :M] = g_pair.sum(2) - g_pair.sum(1)  # +1 for model A's strength, -1 for B's
        hess = np.zeros((R, P, P))
        hess[:, :M, :M] = -h_sym
        hess[:, np.arange(M), np.arange(M)] = h_sym.sum(2)
        if use_x:
            hx_pair = (to_pair @ (h * x).T).T.reshape(R, M, M)
            grad[:, M] = (g * x).sum(1)
            hess[:, :M, M] = hess[:, M, :M] = hx_pair.sum(2) - hx_pair.sum(1)
            hess[:, M, M] = (h * x * x).sum(1)
        grad += PRIOR_PRECISION * theta
        hess += PRIOR_PRECISION * eye
        step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    beta = theta[:, :M] - theta[:, :M].mean(1, keepdims=True)
    return beta, (theta[:, M] if use_x else None), theta


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
    # Aggregate judgements into cells (model A, model B, length bin, outcome); a pair's judgements
    # share its models and length bin: its group.
    group = (ma * M + mb) * (len(edges) + 1) + x_bin
    keys, cell, counts = np.unique(group * 3 + y_class, return_inverse=True, return_counts=True)
    cx = np.bincount(cell, weights=x) / counts
    c_y = (keys % 3) / 2.0
    c_pair = keys // 3 // (len(edges) + 1)
    c_ma, c_mb = c_pair // M, c_pair % M
    n_total = int(counts.sum())

    # Pair bootstrap: a pair's row is (its cell index for each outcome it got, with how many times).
    # Pairs with equal rows are interchangeable, so ItemBootstrap draws counts of distinct rows.
    used_item, item_idx = np.unique(data.item[use], return_inverse=True)
    group_of_item = np.zeros(len(used_item), np.int64)
    group_of_item[item_idx] = group
    outcome_counts = np.zeros((len(used_item), 3))
    np.add.at(outcome_counts, (item_idx, y_class), 1)
    boot = ItemBootstrap(len(used_item), n_boot=n_boot, seed=seed)
    patterns, _, resampled = boot.patterns(np.column_stack([group_of_item, outcome_counts]))
    # pattern -> its cells' counts: the cell of (group, outcome) for each outcome with a count
    p_group, p_counts = patterns[:, 0].astype(np.int64), patterns[:, 1:]
    rows, cols, vals = [], [], []
    for outcome in range(3):
        has = p_counts[:, outcome] > 0
        at = np.searchsorted(keys, p_group[has] * 3 + outcome)
        rows.append(np.flatnonzero(has)), cols.append(at), vals.append(p_counts[has, outcome])
    pattern_cells = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                      shape=(len(patterns), len(keys)))
    block = max(1, MAX_CELLS_X_RESAMPLES // max(len(keys), 1))

    results = {}
    for name, use_x in (("raw", False), ("length_controlled", True)):
        start = np.zeros(M + (1 if use_x else 0))
        beta, gamma, theta = _fit(c_ma, c_mb, cx, c_y, counts[None, :].astype(np.float64), M, use_x, start)
        boot_beta, boot_gamma = [], []
        for first in range(0, n_boot, block):
            weights = (pattern_cells.T @ resampled[first:first + block].T).T  # (resamples, cells)
            b_beta, b_gamma, _ = _fit(c_ma, c_mb, cx, c_y, weights, M, use_x, theta[0])
            boot_beta.append(b_beta)
            boot_gamma.append(b_gamma)
        results[name] = (beta[0], np.concatenate(boot_beta), gamma[0] if use_x else None,
                         np.concatenate(boot_gamma) if use_x else None)

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
