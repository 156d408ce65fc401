"""AI labellers in the audit (issue 14): judged by the same yardsticks as people, but kept out of
the people's own statistics.

Policy. The dataset's agreement figures, biases, quality, flags and leaderboard are computed over
human judgements only: an AI labeller that judges every pair would otherwise weigh on every
majority, and its agreement with people would partly be agreement with itself. Each AI labeller
gets a row in the labeller table (badged) and a column in the "AI vs humans" panel, measured
against the human majority:
- agreement with the human majority: a strict majority (> half) of at least MIN_OTHERS people on
  the pair (for a person, the others: the leave-one-out majority the audit already uses);
- position bias from the two-order verdicts: the share of pairs judged in both orders where the
  orders disagree (0 for a judge that ignores position), and the share of order verdicts that
  chose the response shown first (50% fair), the AI analogue of "left chosen";
- length bias: the audit's indicators (longer chosen where lengths differ by 20%, and departures
  from the reference towards the longer against towards the shorter response);
- self-preference: on pairs where exactly one response's `source` is the judge's model name, the
  share of decided verdicts for that response, beside the people's share on the same pairs.
Order verdicts are read in the pair's terms ("a" = response A), as the ai_label job records them.
Per-labeller intervals are Wilson's, the people's dataset-wide ones the item bootstrap's."""
from dataclasses import replace

import numpy as np

from annotation.audit.agreement import N_NOMINAL, category_counts
from annotation.audit.bias import indicators
from annotation.audit.consensus import MIN_OTHERS, reference_side
from annotation.audit.data import A, B, AuditData
from annotation.audit.stats import ItemBootstrap, per_item, rate, wilson_rate

POLICY = ("AI labellers do not count in the people's statistics on this page (agreement, biases, quality, flags, "
          "leaderboard): those use human judgements only. Each AI labeller is measured against the human majority "
          "instead, in the labeller table (marked AI) and in the AI vs humans panel.")


def is_model(data: AuditData) -> np.ndarray:
    """(n,) bool: the judgement was made by an AI labeller."""
    kinds = np.array([k == "model" for k in data.kinds] or [False], dtype=bool)
    return kinds[data.labeller] if data.kinds else np.zeros(data.n, dtype=bool)


def judgement_subset(data: AuditData, keep: np.ndarray) -> AuditData:
    """The audit data of the kept judgements only, items and labellers re-indexed to those left."""
    items, item = np.unique(data.item[keep], return_inverse=True)
    labs, lab = np.unique(data.labeller[keep], return_inverse=True)
    item_of = np.full(data.n_items, -1, np.int64)
    item_of[items] = np.arange(len(items))
    lab_of = np.full(data.n_labellers, -1, np.int64)
    lab_of[labs] = np.arange(len(labs))
    rep = (item_of[data.repeat_item] >= 0) & (lab_of[data.repeat_labeller] >= 0) if len(data.repeat_item) else np.zeros(0, bool)
    pick = lambda xs: [xs[j] for j in labs.tolist()]  # noqa: E731
    return replace(
        data, item=item.astype(np.int64), labeller=lab.astype(np.int64), choice=data.choice[keep],
        strength=data.strength[keep], shown_left=data.shown_left[keep], t=data.t[keep], time_ms=data.time_ms[keep],
        chars_shown=data.chars_shown[keep], pair_id=data.pair_id[items], gold=data.gold[items], agrees=data.agrees[items],
        len_a=data.len_a[items], len_b=data.len_b[items], source_a=data.source_a[items], source_b=data.source_b[items],
        labeller_ids=data.labeller_ids[labs], usernames=pick(data.usernames), locales=pick(data.locales),
        expertise=pick(data.expertise), kinds=pick(data.kinds),
        repeat_item=item_of[data.repeat_item[rep]], repeat_labeller=lab_of[data.repeat_labeller[rep]],
        repeat_choice=data.repeat_choice[rep], repeat_first_choice=data.repeat_first_choice[rep],
        ai_detail={}, judge_models={},
    )


def human_only(data: AuditData) -> AuditData:
    """What the people's statistics are computed on: `data` itself when no AI labeller judged."""
    model = is_model(data)
    return judgement_subset(data, ~model) if model.any() else data


def human_majority(data: AuditData, model: np.ndarray) -> np.ndarray:
    """(n,) the choice a strict majority of at least MIN_OTHERS people gave on the judgement's pair,
    leaving the judgement itself out when a person made it; -1 where there is none."""
    counts = category_counts(data.item[~model], data.choice[~model].astype(np.int64), data.n_items, N_NOMINAL)
    others = counts[data.item]  # (n, 4)
    own = np.flatnonzero(~model)
    others[own, data.choice[own]] -= 1
    m = others.sum(1)
    ok = (m >= MIN_OTHERS) & (others.max(1) * 2 > m)
    return np.where(ok, others.argmax(1), -1).astype(np.int8)


def _orders(detail: dict) -> list[tuple[str, str | None]]:
    return [(str(o.get("order")), o.get("verdict")) for o in detail.get("orders") or [] if isinstance(o, dict)]


def order_counts(details: list[dict]) -> dict[str, int]:
    """From a labeller's ai_detail records: pairs judged in both orders with a verdict each, those
    where the orders disagree, order verdicts for A or B, those for the response shown first, and
    order verdicts missing (an unreadable answer)."""
    out = {"both": 0, "disagree": 0, "decided": 0, "first": 0, "no_verdict": 0}
    for detail in details:
        orders = _orders(detail)
        verdicts = {o: v for o, v in orders if o in ("ab", "ba")}
        out["no_verdict"] += sum(v is None for _, v in orders)
        if verdicts.get("ab") is not None and verdicts.get("ba") is not None:
            out["both"] += 1
            out["disagree"] += verdicts["ab"] != verdicts["ba"]
        for order, verdict in orders:
            if verdict in ("a", "b") and order in ("ab", "ba"):
                out["decided"] += 1
                out["first"] += verdict == order[0]
    return out


def _own_side(data: AuditData, names: list[str]) -> np.ndarray:
    """(n_items,) 0 / 1 for the side whose source is one of `names` (exactly one side), else -1."""
    codes = [data.sources.index(n) for n in names if n in data.sources]
    a, b = np.isin(data.source_a, codes), np.isin(data.source_b, codes)
    return np.where(a & ~b, 0, np.where(b & ~a, 1, -1)).astype(np.int8)


def _count(mask: np.ndarray, den: np.ndarray) -> tuple[int, int]:
    return int((mask & den).sum()), int(den.sum())


def ai_section(data: AuditData) -> tuple[list[dict], dict | None]:
    """(labeller-table rows of the AI labellers, the AI vs humans panel); ([], None) without them."""
    model = is_model(data)
    if not model.any():
        return [], None
    majority = human_majority(data, model)
    reference = reference_side(data, majority)
    ind = indicators(data, majority, reference)
    decided = (data.choice == A) | (data.choice == B)
    human = ~model
    boot = ItemBootstrap(data.n_items)

    def people(num, den):
        return boot.ratio(per_item(data.item, num & den & human, data.n_items), per_item(data.item, den & human, data.n_items))

    rows, columns = [], []
    for j in np.flatnonzero([k == "model" for k in data.kinds]).tolist():
        mine = data.labeller == j
        lab_id = int(data.labeller_ids[j])
        details = [data.ai_detail.get((int(p), lab_id), {}) for p in data.pair_id[data.item[mine]]]
        oc = order_counts(details)
        own = _own_side(data, data.judge_models.get(lab_id, []))[data.item]
        on_own = (own >= 0) & decided
        chose_own = on_own & (data.choice == own)
        figures = {
            "agreement_with_human_majority": wilson_rate(*_count(ind.majority, ind.majority_den & mine)),
            "gold_accuracy": wilson_rate(*_count(ind.gold, ind.gold_den & mine)),
            "order_disagreement": wilson_rate(oc["disagree"], oc["both"]),
            "first_position_chosen": wilson_rate(oc["first"], oc["decided"]),
            "no_verdict_orders": oc["no_verdict"],
            "longer_chosen": wilson_rate(*_count(ind.longer, ind.longer_den & mine)),
            "toward_longer": wilson_rate(*_count(ind.to_longer, ind.to_longer_den & mine)),
            "toward_shorter": wilson_rate(*_count(ind.to_shorter, ind.to_shorter_den & mine)),
            "self_preference": wilson_rate(*_count(chose_own, on_own & mine)),
            # people on the same pairs: how often they chose the judge's own model's response
            "humans_on_own_pairs": wilson_rate(*_count(chose_own, on_own & human & np.isin(data.item, data.item[on_own & mine]))),
            "judge_models": data.judge_models.get(lab_id, []),
        }
        columns.append({"username": data.usernames[j], "labeller_id": lab_id, "n": int(mine.sum()), **figures})
        rows.append({
            "username": data.usernames[j], "labeller_id": lab_id, "kind": "model", "locale": data.locales[j],
            "expertise": data.expertise[j], "n": int(mine.sum()),
            "agreement_with_majority": figures["agreement_with_human_majority"],
            "gold_accuracy": figures["gold_accuracy"],
            "self_consistency": _repeats(data, j),
            "length_bias": figures["longer_chosen"],
            "position_bias": figures["first_position_chosen"],
            "sycophancy": wilson_rate(*_count(ind.agreeing, ind.agreeing_den & mine)),
            "too_fast": rate(None, None, None, 0),
            "reference_match_first_half": rate(None, None, None, 0),
            "reference_match_second_half": rate(None, None, None, 0),
            "median_time_ms": None, "quality": None, "flags": [],
            "ai": figures,
        })
    humans = {
        "n": int(human.sum()),
        "agreement_with_human_majority": people(ind.majority, ind.majority_den),
        "gold_accuracy": people(ind.gold, ind.gold_den),
        "left_chosen": people(ind.left, ind.left_den),
        "longer_chosen": people(ind.longer, ind.longer_den),
        "toward_longer": people(ind.to_longer, ind.to_longer_den),
        "toward_shorter": people(ind.to_shorter, ind.to_shorter_den),
    }
    return rows, {"policy": POLICY, "labellers": columns, "humans": humans}


def _repeats(data: AuditData, j: int) -> dict:
    mine = data.repeat_labeller == j
    return wilson_rate(int((data.repeat_choice[mine] == data.repeat_first_choice[mine]).sum()), int(mine.sum()))


def with_ai(report: dict, data: AuditData) -> dict:
    """The people's report (computed on human_only(data)) with each row's kind, the AI labellers'
    rows and the AI vs humans panel added."""
    rows, panel = ai_section(data)
    report["labellers"] = [{**r, "kind": r.get("kind", "human")} for r in report["labellers"]] + rows
    report["ai_vs_humans"] = panel
    report["method"]["ai_labellers"] = POLICY
    return report
