"""Unpaired feedback as KTO reads it: (prompt messages, completion, desirable) examples, from a
dataset's comparisons (chosen = desirable, rejected = undesirable) or from thumbs-up/down ratings,
then encoded for the policy with each example's mismatched "KL completion".

Unpairing: the chosen and rejected sides of every selected pair become two examples, and the list
is shuffled with the seed. (TRL's KTOTrainer, handed paired data, unpairs each block of rows into all
the chosen, then all the rejected: whole batches of one class. See the anchors' README.)

KL completion: KTO's reference point z0 is the policy's KL to the reference, estimated on
mismatched (prompt, completion) pairs. Example i of the shuffled list borrows the completion of
the next example (TRL rotates completions by one inside each batch), or, where that one has the
same prompt, another example's (`kl_partners`). The
partner is fixed here, once, so that the reference log-probs of both sequences can be precomputed
and a resumed run sees the same data. Encoded, example i is an `EncodedPair` whose "chosen" side
is prompt_i + completion_i and whose "rejected" side is prompt_i + partner completion: DPO's
log-prob code then scores both in one forward pass that runs the prompt once."""
import random
from dataclasses import dataclass

from rewardmodel.batching import EncodedPair
from rewardmodel.text import PairExample
from training.preference_data import encode_preference_pairs

SOURCES = ("comparisons", "ratings")


@dataclass
class UnpairedExample:
    messages: list[dict]
    """The prompt as [{role, content}]."""
    completion: str
    desirable: bool
    prompt_id: int
    source_id: int
    """The pair (comparisons) or the rating it came from."""


def unpair(examples: list[PairExample], *, seed: int) -> list[UnpairedExample]:
    """Both sides of every pair as unpaired examples, shuffled with `seed`."""
    out = [UnpairedExample(messages=e.messages, completion=text, desirable=desirable, prompt_id=e.prompt_id,
                           source_id=e.pair_id)
           for e in examples for text, desirable in ((e.chosen, True), (e.rejected, False))]
    random.Random(seed).shuffle(out)
    return out


def unpaired_from_ratings(*, dataset_id: int, seed: int, rating_ids: list[int] | None = None) -> list[UnpairedExample]:
    """Thumbs-up/down ratings of the dataset (thumbs up = desirable), shuffled with `seed`; with
    `rating_ids` (a resumed run) only those. ValueError when ratings cannot be read or there are none."""
    try:
        from annotation.ratings.selectors import ratings_for_training
    except ImportError as exc:
        raise ValueError("KTO source 'ratings' needs annotation.ratings.selectors.ratings_for_training, "
                         f"which is not available here ({exc}).") from exc
    rows = ratings_for_training(dataset_id=dataset_id)
    if rating_ids is not None:
        keep = set(rating_ids)
        rows = [r for r in rows if r["rating_id"] in keep]
    if not rows:
        raise ValueError(f"Dataset {dataset_id} has no thumbs-up/down ratings to learn from (KTO source 'ratings').")
    out = [UnpairedExample(messages=r["prompt_messages"], completion=r["completion"], desirable=bool(r["label"]),
                           prompt_id=r["prompt_id"], source_id=r["rating_id"]) for r in rows]
    out.sort(key=lambda e: e.source_id)  # the selector's order must not change the shuffle
    random.Random(seed).shuffle(out)
    return out


def kl_partners(examples: list[UnpairedExample]) -> list[int]:
    """For each example, the index of the example whose completion is its KL completion: the next
    one (cyclically), as TRL rotates by one, and where that one has the same prompt, swapped with
    another example's partner so that both prompts differ. A permutation: every completion is some
    example's KL completion once, so the mismatched completions are the matched ones re-paired."""
    n = len(examples)
    partners = [(i + 1) % n for i in range(n)]
    clash = lambda i, j: examples[i].prompt_id == examples[j].prompt_id  # noqa: E731
    for i in range(n):
        if not clash(i, partners[i]):
            continue
        for k in range(n):
            if not clash(i, partners[k]) and not clash(k, partners[i]):
                partners[i], partners[k] = partners[k], partners[i]
                break
    return partners


def encode_unpaired(tokenizer, examples: list[UnpairedExample], cfg) -> list[EncodedPair]:
    """`cfg` has max_length and max_response_tokens (a KTOConfig). Row i: chosen_ids = prompt_i +
    completion_i, rejected_ids = prompt_i + the KL partner's completion; meta["desirable"]."""
    partners = kl_partners(examples)
    as_pairs = [PairExample(pair_id=e.source_id, prompt_id=e.prompt_id, messages=e.messages, chosen=e.completion,
                            rejected=examples[j].completion) for e, j in zip(examples, partners)]
    encoded = encode_preference_pairs(tokenizer, as_pairs, cfg)
    for row, e in zip(encoded, examples):
        row.meta["desirable"] = e.desirable
    return encoded
