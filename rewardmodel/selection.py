"""Which comparisons a run trains on: counted judgements (audit exclusions honoured) aggregated per
pair, split by prompt content into train and validation, with a snapshot that identifies the data.

The split key is a hash of the prompt's normalised messages, not its id: the same prompt text
imported in two datasets (or twice, with different spacing or case) is one prompt, and lands on
one side. Gold accuracy is measured on held-out gold pairs only: those whose prompt text is not
in the training split."""
import hashlib
import random
import unicodedata
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from django.db.models import Avg

from annotation.dataio.hashing import canonical, sha256
from annotation.models import Choice, Judgement, Labeller, Pair
from annotation.selectors import PairVotes, judgements_counted, pair_votes
from rewardmodel.text import PairExample


JUDGEMENT_SOURCES = ("human", "model", "both")


@dataclass
class SelectionConfig:
    aggregation: str = "majority"
    """'majority': one example per pair with a strict majority for A or B (ties and split votes
    left out); 'per_judgement': every counted vote is evidence (soft label, weight = votes)."""
    min_agreement: float = 0.0
    """Leave out pairs whose most common choice has less than this share of the votes."""
    include_ties: bool = False
    """Keep tie and both-bad votes (only for the tie-aware loss)."""
    margin_scale: float = 1.0
    """Margin for the Llama 2 loss: margin_scale * (mean strength - 1) / 2, i.e. 0 .. margin_scale."""
    eval_fraction: float = 0.1
    """Share of the distinct prompt texts held out for validation (every pair of a prompt text goes
    to one side, whichever dataset holds it)."""
    seed: int = 1234
    honour_exclusions: bool = True
    extra_dataset_ids: list[int] = field(default_factory=list)
    """More datasets to train on besides the run's own."""
    use_review_decisions: bool = False
    """Use reviewers' decisions: where a pair's current decision is an override, its choice replaces
    the labellers' majority (a decisive override is kept whatever min_agreement says; an override to
    tie or both bad leaves the pair out unless include_ties). Accepted and sent-back pairs keep
    their votes."""
    judgement_source: str = "human"
    """Whose judgements count: 'human' (people only, the default: an AI labeller's judgements never
    enter training unless asked for), 'model' (AI labellers only) or 'both'."""
    ai_weight: float = 1.0
    """With 'both': the weight of one AI judgement against one human judgement (0 < w <= 10). The
    votes of a pair are summed with these weights; an example's loss weight is the mean weight of
    its votes (majority) or their weighted sum (per_judgement)."""

    def __post_init__(self):
        if self.judgement_source not in JUDGEMENT_SOURCES:
            raise ValueError(f"judgement_source must be one of {', '.join(JUDGEMENT_SOURCES)}, not {self.judgement_source!r}")
        if not 0 < self.ai_weight <= 10:
            raise ValueError("ai_weight must be in (0, 10]; use judgement_source 'human' to leave AI judgements out")
        if self.aggregation not in ("majority", "per_judgement"):
            raise ValueError(f"aggregation must be 'majority' or 'per_judgement', not {self.aggregation!r}")
        if not 0 <= self.min_agreement <= 1 or not 0 <= self.eval_fraction < 1:
            raise ValueError("min_agreement must be in [0, 1] and eval_fraction in [0, 1)")


HUMAN_EVAL_SCOPE = ("held-out prompts only: pairs with a strict majority of human votes (AI labellers' votes not "
                    "counted) whose prompt text is not in the training split")
GOLD_SCOPE = "held-out prompts only: gold pairs whose prompt text is in the training split are left out"


def prompt_content_key(messages: list[dict]) -> str:
    """Hash of the messages with Unicode, case and whitespace normalised, so that copies of one
    prompt that differ only in those get the same key."""
    normalised = [
        {"role": str(m.get("role", "")).strip().casefold(),
         "content": " ".join(unicodedata.normalize("NFKC", str(m.get("content", ""))).casefold().split())}
        for m in messages
    ]
    return sha256(canonical(normalised))


@dataclass
class Selection:
    train: list[PairExample]
    eval: list[PairExample]
    gold: list[PairExample]
    """Every pair with a gold answer whose prompt text is not trained on, oriented gold-first (for
    gold accuracy on held-out prompts)."""
    snapshot: dict
    judgement_ids: list[int]
    human_eval: list[PairExample] = field(default_factory=list)
    """Every pair with a strict majority of HUMAN votes whose prompt text is not trained on,
    oriented human-majority-first: the yardstick for runs that differ in judgement_source."""


def select_examples(*, dataset_id: int, config: SelectionConfig, judgement_ids: list[int] | None = None) -> Selection:
    """With `judgement_ids` (a resumed run), exactly those judgements are used again."""
    dataset_ids = [dataset_id, *[d for d in config.extra_dataset_ids if d != dataset_id]]
    votes, n_raw, strengths, used_ids = {}, {}, defaultdict(dict), []
    for ds in dataset_ids:
        qs = judgements_counted(dataset_id=ds, honour_exclusions=config.honour_exclusions)
        if judgement_ids is not None:
            qs = qs.model.objects.filter(id__in=judgement_ids, pair__dataset_id=ds)
        else:
            qs = judgements_of_source(qs, config.judgement_source)
        used_ids += list(qs.order_by("id").values_list("id", flat=True))
        weighted, raw = weighted_pair_votes(qs, ai_weight=config.ai_weight if config.judgement_source == "both" else 1.0)
        votes.update(weighted)
        n_raw.update(raw)
        for row in qs.order_by().values("pair_id", "choice").annotate(s=Avg("strength")):
            strengths[row["pair_id"]][row["choice"]] = row["s"]

    left_out = {"tie_or_split": 0, "below_min_agreement": 0, "no_decisive_vote": 0}
    kept = {}  # pair_id -> (chosen side, p_win, p_tie, weight, margin)
    for pid, v in votes.items():
        if v.agreement < config.min_agreement:
            left_out["below_min_agreement"] += 1
            continue
        ties = v.tie + v.both_bad
        if config.aggregation == "majority":
            mean_weight = v.total / n_raw[pid]  # 1 unless AI votes are weighted
            if v.winner is not None:
                kept[pid] = (v.winner, 1.0, 0.0, mean_weight)
            elif config.include_ties and ties * 2 > v.total:
                kept[pid] = (Choice.A.value, 0.5, 1.0, mean_weight)
            else:
                left_out["tie_or_split"] += 1
        else:
            decisive = v.a + v.b
            if decisive == 0 and not config.include_ties:
                left_out["no_decisive_vote"] += 1
                continue
            side = Choice.A.value if v.a >= v.b else Choice.B.value
            p_win = max(v.a, v.b) / decisive if decisive else 0.5
            p_tie = ties / v.total if config.include_ties else 0.0
            kept[pid] = (side, p_win, p_tie, float(v.total if config.include_ties else decisive))

    review = _apply_overrides(kept, votes, dataset_ids, config) if config.use_review_decisions else None

    # The datasets' pairs, not `id__in` the kept ones: a list of 32k+ ids is more than SQLite
    # accepts as parameters of one statement.
    pairs = Pair.objects.filter(dataset_id__in=dataset_ids).select_related("response_a", "response_b", "prompt").order_by("id")
    examples = []
    for pair in pairs.iterator(chunk_size=500):
        if pair.id not in kept:
            continue
        side, p_win, p_tie, weight = kept[pair.id]
        chosen, rejected = (pair.response_a, pair.response_b) if side == "a" else (pair.response_b, pair.response_a)
        s = strengths[pair.id].get(side)
        v = votes.get(pair.id) or PairVotes(pair.id, 0, 0, 0, 0)  # an override of a pair with no counted vote
        examples.append(PairExample(
            pair_id=pair.id, prompt_id=pair.prompt_id, messages=pair.prompt.messages,
            chosen=chosen.text, rejected=rejected.text, p_win=p_win, p_tie=p_tie, weight=weight,
            margin=config.margin_scale * (s - 1) / 2 if s is not None and p_tie < 1 else 0.0,
            agreement=v.agreement if v.total else 1.0, n_votes=n_raw.get(pair.id, 0),
            gold_is_chosen=(pair.gold == side) if pair.gold else None,
        ))

    # Split by prompt content with a fixed seed: no prompt text is on both sides.
    key_of = {e.pair_id: prompt_content_key(e.messages) for e in examples}
    prompt_keys = sorted(set(key_of.values()))
    random.Random(config.seed).shuffle(prompt_keys)
    n_eval = round(len(prompt_keys) * config.eval_fraction)
    if config.eval_fraction > 0 and n_eval == 0 and len(prompt_keys) >= 2:
        n_eval = 1
    eval_keys = set(prompt_keys[:n_eval])
    train = [e for e in examples if key_of[e.pair_id] not in eval_keys]
    evl = [e for e in examples if key_of[e.pair_id] in eval_keys]
    trained_keys = {key_of[e.pair_id] for e in train}

    gold, n_gold_trained = [], 0
    for pair in Pair.objects.filter(dataset_id__in=dataset_ids).exclude(gold="").select_related("response_a", "response_b", "prompt"):
        if prompt_content_key(pair.prompt.messages) in trained_keys:
            n_gold_trained += 1
            continue
        g, other = (pair.response_a, pair.response_b) if pair.gold == "a" else (pair.response_b, pair.response_a)
        gold.append(PairExample(pair_id=pair.id, prompt_id=pair.prompt_id, messages=pair.prompt.messages,
                                chosen=g.text, rejected=other.text, gold_is_chosen=True))

    human_eval = _human_held_out(dataset_ids, config, trained_keys)
    snapshot = {
        "dataset_ids": dataset_ids,
        "judgement_ids_sha256": hashlib.sha256(",".join(map(str, used_ids)).encode()).hexdigest(),
        # What the loss sees, weights included: differs between runs that weigh the same
        # judgements differently (judgement_ids_sha256 does not).
        "examples_sha256": sha256(canonical([[e.pair_id, e.chosen, e.p_win, e.p_tie, e.weight, e.margin]
                                             for e in (*train, *evl)])),
        "judgement_source": config.judgement_source,
        "ai_weight": config.ai_weight if config.judgement_source == "both" else None,
        "n_human_judgements": _count_of_kind(used_ids, Labeller.Kind.HUMAN),
        "n_ai_judgements": _count_of_kind(used_ids, Labeller.Kind.MODEL),
        "n_human_eval_pairs": len(human_eval),
        "human_eval_scope": HUMAN_EVAL_SCOPE,
        "n_judgements": len(used_ids),
        "n_pairs_voted": len(votes),
        "n_pairs_used": len(examples),
        "n_train_pairs": len(train),
        "n_eval_pairs": len(evl),
        "n_train_prompts": len(prompt_keys) - n_eval,
        "n_eval_prompts": n_eval,
        "n_gold_pairs": len(gold),
        "n_gold_pairs_left_out_as_trained_on": n_gold_trained,
        "gold_accuracy_scope": GOLD_SCOPE,
        "left_out": left_out,
        "selection": asdict(config),
    }
    if review is not None:
        snapshot["review_decisions"] = review
    return Selection(train=train, eval=evl, gold=gold, snapshot=snapshot, judgement_ids=used_ids, human_eval=human_eval)


def judgements_of_source(qs, source: str):
    """The judgements of people ('human'), of AI labellers ('model') or of both."""
    if source == "human":
        return qs.filter(labeller__kind=Labeller.Kind.HUMAN)
    if source == "model":
        return qs.filter(labeller__kind=Labeller.Kind.MODEL)
    return qs


def weighted_pair_votes(qs, *, ai_weight: float) -> tuple[dict[int, PairVotes], dict[int, int]]:
    """({pair_id: votes, an AI labeller's vote counting ai_weight}, {pair_id: number of votes})."""
    raw = {v.pair_id: v for v in pair_votes(qs)}
    n_raw = {pid: v.total for pid, v in raw.items()}
    if ai_weight == 1.0:
        return raw, n_raw
    ai = {v.pair_id: v for v in pair_votes(qs.filter(labeller__kind=Labeller.Kind.MODEL))}
    weighted = {}
    for pid, v in raw.items():
        m = ai.get(pid)
        if m is None:
            weighted[pid] = v
            continue
        weighted[pid] = PairVotes(pair_id=pid, **{
            c: getattr(v, c) - getattr(m, c) + ai_weight * getattr(m, c) for c in ("a", "b", "tie", "both_bad")
        })
    return weighted, n_raw


def _count_of_kind(ids: list[int], kind: str) -> int:
    return sum(Judgement.objects.filter(id__in=ids[i:i + 20000], labeller__kind=kind).count()
               for i in range(0, len(ids), 20000))


def _human_held_out(dataset_ids: list[int], config: SelectionConfig, trained_keys: set[str]) -> list[PairExample]:
    """Pairs a strict majority of people decided (a or b) whose prompt text is not trained on."""
    winners = {}
    for ds in dataset_ids:
        qs = judgements_of_source(judgements_counted(dataset_id=ds, honour_exclusions=config.honour_exclusions), "human")
        winners.update({v.pair_id: v.winner for v in pair_votes(qs) if v.winner is not None})
    out = []
    pairs = Pair.objects.filter(dataset_id__in=dataset_ids).select_related("response_a", "response_b", "prompt").order_by("id")
    for pair in pairs.iterator(chunk_size=500):
        side = winners.get(pair.id)
        if side is None or prompt_content_key(pair.prompt.messages) in trained_keys:
            continue
        chosen, rejected = (pair.response_a, pair.response_b) if side == "a" else (pair.response_b, pair.response_a)
        out.append(PairExample(pair_id=pair.id, prompt_id=pair.prompt_id, messages=pair.prompt.messages,
                               chosen=chosen.text, rejected=rejected.text))
    return out


def _apply_overrides(kept: dict, votes: dict, dataset_ids: list[int], config: SelectionConfig) -> dict:
    """Replaces the label of each pair whose current review decision is an override (in place in
    `kept`); returns what the snapshot records of them: how many, and a hash of (pair, decision,
    choice) that identifies the decisions used."""
    from annotation.review.selectors import decisions_current

    used, n_left_out = [], 0
    for pid, d in sorted(decisions_current(dataset_ids=dataset_ids).items()):
        if d.action != "override":
            continue
        v = votes.get(pid)
        weight = float(max(1, v.total if v else 1)) if config.aggregation == "per_judgement" else 1.0
        if d.choice in (Choice.A.value, Choice.B.value):
            kept[pid] = (d.choice, 1.0, 0.0, weight)
        elif config.include_ties:
            kept[pid] = (Choice.A.value, 0.5, 1.0, weight)
        else:
            kept.pop(pid, None)
            n_left_out += 1
        used.append(f"{pid}:{d.pk}:{d.choice}")
    return {
        "n_overrides": len(used),
        "n_overrides_left_out_as_tie": n_left_out,
        "overrides_sha256": hashlib.sha256(",".join(used).encode()).hexdigest(),
    }


def selection_empty_message(snapshot: dict) -> str:
    """Why a selection left nothing to train on, from its snapshot, with what to change."""
    left = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in snapshot["left_out"].items())
    return (f"The data selection is empty: {snapshot['n_pairs_voted']} pairs have counted votes but none "
            f"is left to train on ({left}). Lower min_agreement, use per_judgement aggregation or add judgements.")
