"""The audit of a dataset's ratings (thumbs up / down on one response), the "rate" mode's
counterpart of the comparison audit. Every figure has a 95% interval; null where undefined.

- agreement: Krippendorff's alpha, nominal, on the binary label over items (responses) rated
  by at least two labellers (agreement.krippendorff_alpha: the coincidence-matrix form, which
  handles unequal numbers of ratings per item), and percent agreement (the share of agreeing pairs
  of ratings per item, averaged over those items); intervals from the item bootstrap.
- positivity: the share of thumbs up, overall and per labeller (Wilson intervals): a labeller far
  from the others is lenient or harsh, whatever the responses.
- gold accuracy: on items with a gold label, the share of ratings that match it (Wilson).
- self-consistency: on planned repeats, the share that match the labeller's own first rating (Wilson).
- length bias: do longer responses get more thumbs up? Pearson's correlation between the
  response's log length in characters and the label (point-biserial), with an item-bootstrap
  interval (ratings of one response are not independent), and the thumbs-up rates of the longer
  and shorter halves of the rated responses (split at the median length).

Agreement, positivity and length read the counted ratings (current, first ratings, exclusions
honoured: annotation.ratings.selectors.ratings_counted); gold accuracy reads them too; self-
consistency reads the repeats of labellers not excluded at the time."""
import numpy as np

from annotation.audit.agreement import alpha_from_sums, alpha_parts, category_counts, fleiss_from_sums, fleiss_parts
from annotation.audit.stats import ItemBootstrap, percentile_interval, rate, wilson_rate
from annotation.models import Rating
from annotation.ratings.selectors import ratings_counted


def _load(dataset_id: int):
    rows = list(ratings_counted(dataset_id=dataset_id).order_by("id").values_list(
        "item_id", "labeller_id", "labeller__user__username", "label", "item__response__length_chars",
        "item__gold_label"))
    return rows


def _agreement(item: np.ndarray, label: np.ndarray, boot: ItemBootstrap) -> dict:
    counts = category_counts(item, label.astype(np.int64), boot.n_items, 2)  # (items, [down, up])
    counts = counts[counts.sum(1) >= 2]
    n_items = len(counts)
    if n_items == 0:
        return {"krippendorff_alpha": rate(None, None, None, 0), "percent": rate(None, None, None, 0),
                "n_items_with_two_or_more": 0}
    alpha_rows, percent_rows = alpha_parts(counts), fleiss_parts(counts)
    shared = ItemBootstrap(n_items, n_boot=boot.n_boot, seed=boot.seed)
    patterns, freq, draws = shared.patterns(np.concatenate([alpha_rows, percent_rows], axis=1))
    k = alpha_rows.shape[1]
    alpha = alpha_from_sums(freq @ patterns[:, :k], 2, "nominal")[0]
    alpha_boot = alpha_from_sums(draws @ patterns[:, :k], 2, "nominal")
    percent = fleiss_from_sums(freq @ patterns[:, k:])[0][0]
    percent_boot = fleiss_from_sums(draws @ patterns[:, k:])[0]
    n_ratings = int(counts.sum())
    return {
        "krippendorff_alpha": rate(alpha, *percentile_interval(alpha_boot), n_ratings),
        "percent": rate(percent, *percentile_interval(percent_boot), n_ratings),
        "n_items_with_two_or_more": n_items,
    }


def _length_bias(item: np.ndarray, label: np.ndarray, length: np.ndarray, boot: ItemBootstrap) -> dict:
    n = len(label)
    x, y = np.log1p(length.astype(np.float64)), label.astype(np.float64)
    if n < 3 or x.std() == 0 or y.std() == 0:
        correlation = rate(None, None, None, n)
    else:
        per_item = np.stack([np.bincount(item, weights=w, minlength=boot.n_items)
                             for w in (np.ones(n), x, y, x * x, y * y, x * y)], axis=1)
        patterns, freq, draws = boot.patterns(per_item)
        r = _pearson(freq @ patterns)[0]
        correlation = rate(r, *percentile_interval(_pearson(draws @ patterns)), n)
    median = float(np.median(length)) if n else 0.0
    longer, shorter = length > median, length < median
    return {
        "correlation": correlation,
        "median_length_chars": median if n else None,
        "longer_up": wilson_rate(int(label[longer].sum()), int(longer.sum())),
        "shorter_up": wilson_rate(int(label[shorter].sum()), int(shorter.sum())),
        "measure": "Pearson's r between log(1 + length in characters) and thumbs up (1) / down (0)",
    }


def _pearson(sums: np.ndarray) -> np.ndarray:
    """Pearson's r from (B, 6) sums of [1, x, y, x^2, y^2, xy]."""
    sums = np.atleast_2d(sums)
    n, sx, sy, sxx, syy, sxy = sums.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n * sxy - sx * sy) / np.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy))


def _self_consistency(dataset_id: int, first_label: dict) -> tuple[dict, dict]:
    """(overall, {labeller id: rate}) of repeats matching the labeller's first rating."""
    repeats = (Rating.objects.filter(item__dataset_id=dataset_id, is_repeat=True, superseded=False)
               .values_list("labeller_id", "item_id", "label"))
    same, total = {}, {}
    for labeller_id, item_id, label in repeats:
        first = first_label.get((labeller_id, item_id))
        if first is None:  # the first rating does not count (excluded) or is gone
            continue
        total[labeller_id] = total.get(labeller_id, 0) + 1
        same[labeller_id] = same.get(labeller_id, 0) + int(first == label)
    overall = wilson_rate(sum(same.values()), sum(total.values()))
    return overall, {lab: wilson_rate(same[lab], total[lab]) for lab in total}


def ratings_audit(*, dataset_id: int) -> dict:
    """The ratings section of the audit document (empty figures, n = 0, when there are none)."""
    rows = _load(dataset_id)
    n = len(rows)
    item_ids = sorted({r[0] for r in rows})
    index = {item_id: i for i, item_id in enumerate(item_ids)}
    item = np.array([index[r[0]] for r in rows], dtype=np.int64)
    label = np.array([bool(r[3]) for r in rows], dtype=bool)
    length = np.array([r[4] for r in rows], dtype=np.float64)
    gold = np.array([-1 if r[5] is None else int(r[5]) for r in rows], dtype=np.int64)
    boot = ItemBootstrap(len(item_ids))
    on_gold = gold >= 0
    correct = on_gold & (gold == label)
    first_label = {(r[1], r[0]): bool(r[3]) for r in rows}
    consistency, consistency_by = _self_consistency(dataset_id, first_label)
    who = np.array([r[1] for r in rows], dtype=np.int64)
    labellers = []
    for labeller_id, username in sorted({(r[1], r[2]) for r in rows}, key=lambda x: x[1]):
        mine = who == labeller_id
        labellers.append({
            "labeller_id": labeller_id, "username": username, "n_ratings": int(mine.sum()),
            "positivity": wilson_rate(int(label[mine].sum()), int(mine.sum())),
            "gold_accuracy": wilson_rate(int(correct[mine].sum()), int((on_gold & mine).sum())),
            "self_consistency": consistency_by.get(labeller_id, rate(None, None, None, 0)),
        })
    return {
        "n_ratings": n,
        "n_items": len(item_ids),
        "n_labellers": len(labellers),
        "positivity": wilson_rate(int(label.sum()), n),
        "agreement": _agreement(item, label, boot),
        "gold_accuracy": wilson_rate(int(correct.sum()), int(on_gold.sum())),
        "self_consistency": consistency,
        "length_bias": _length_bias(item, label, length, boot),
        "labellers": labellers,
        "method": {"n_bootstrap": boot.n_boot, "seed": boot.seed, "resampling_unit": "response (rating item)"},
    }
