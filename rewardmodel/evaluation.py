"""How good a reward model is on pairs it did not train on: accuracy (overall, by agreement
level, on gold items), calibration of sigmoid(r_w - r_l), and whether the reward pays for length."""
import math

from scipy.special import expit


def expected_calibration_error(r_w: list[float], r_l: list[float], *, bins: int = 10) -> float:
    """ECE of the predicted probability that the model's preferred response is the labellers':
    confidence = max(p, 1 - p) with p = sigmoid(r_w - r_l), in equal-width bins over [0.5, 1]."""
    totals = [[0, 0.0, 0] for _ in range(bins)]  # n, sum of confidence, n correct
    for w, lo in zip(r_w, r_l):
        p = float(expit(w - lo))
        conf = max(p, 1 - p)
        b = min(bins - 1, int((conf - 0.5) * 2 * bins))
        totals[b][0] += 1
        totals[b][1] += conf
        totals[b][2] += int(w > lo)
    n = len(r_w)
    return sum(abs(c / k - s / k) * k / n for k, s, c in totals if k) if n else float("nan")


def pearson(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def _accuracy(r_w, r_l) -> float | None:
    return sum(w > lo for w, lo in zip(r_w, r_l)) / len(r_w) if r_w else None


def pair_metrics(r_w: list[float], r_l: list[float], metas: list[dict]) -> dict:
    """Metrics over scored pairs (chosen = the labellers' choice). `metas` carry agreement and
    the responses' lengths in characters."""
    n = len(r_w)
    if n == 0:
        return {"n_pairs": 0}
    loss = sum(math.log1p(math.exp(-max(-60.0, min(60.0, w - lo)))) for w, lo in zip(r_w, r_l)) / n
    unanimous = [i for i, m in enumerate(metas) if m.get("agreement", 1.0) >= 1.0]
    split = [i for i, m in enumerate(metas) if m.get("agreement", 1.0) < 1.0]
    rewards = list(r_w) + list(r_l)
    lengths = [m.get("len_chosen", 0) for m in metas] + [m.get("len_rejected", 0) for m in metas]
    longer_wins = [i for i, m in enumerate(metas) if m.get("len_chosen", 0) != m.get("len_rejected", 0)]
    model_prefers_longer = [
        (r_w[i] > r_l[i]) == (metas[i]["len_chosen"] > metas[i]["len_rejected"]) for i in longer_wins
    ]
    return {
        "n_pairs": n,
        "accuracy": _accuracy(r_w, r_l),
        "loss": loss,
        "mean_margin": sum(w - lo for w, lo in zip(r_w, r_l)) / n,
        "ece": expected_calibration_error(r_w, r_l),
        "accuracy_unanimous": _accuracy([r_w[i] for i in unanimous], [r_l[i] for i in unanimous]),
        "n_unanimous": len(unanimous),
        "accuracy_split": _accuracy([r_w[i] for i in split], [r_l[i] for i in split]),
        "n_split": len(split),
        "reward_length_correlation": pearson(rewards, [float(x) for x in lengths]),
        "prefers_longer_rate": sum(model_prefers_longer) / len(model_prefers_longer) if model_prefers_longer else None,
        "labellers_prefer_longer_rate": (
            sum(metas[i]["len_chosen"] > metas[i]["len_rejected"] for i in longer_wins) / len(longer_wins) if longer_wins else None
        ),
    }
