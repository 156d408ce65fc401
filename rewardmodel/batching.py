"""Pairs as the trainer sees them, and how they are cut into batches.

Batches are grouped by length (like Hugging Face's `group_by_length`): shuffle, sort by length
inside mega-batches of `window` batches, then shuffle the batches. Each batch is then split into
micro-batches under a token budget, so that a batch of long pairs does not blow up peak memory;
the loss is normalised by the whole batch's weight, so the gradient is the same either way.
"""
import random
from dataclasses import dataclass, field

import torch


@dataclass
class EncodedPair:
    """One training example: token ids of (prompt + chosen) and (prompt + rejected)."""

    chosen_ids: list[int]
    rejected_ids: list[int]
    p_win: float = 1.0
    """Share of the (non-tie) votes for `chosen`; 1.0 for a majority label, less for soft labels."""
    p_tie: float = 0.0
    """Share of the votes that were a tie (or both bad); only the tie-aware loss uses it."""
    margin: float = 0.0
    """Llama 2 margin: how much the chosen reward should exceed the rejected one."""
    weight: float = 1.0
    length_feature: float = 0.0
    """(len_chosen - len_rejected) / (len_chosen + len_rejected) of the responses, for length control."""
    truncated: bool = False
    meta: dict = field(default_factory=dict)
    """Pass-through data for evaluation (pair id, agreement, gold side...)."""

    @property
    def n_tokens(self) -> int:
        return max(len(self.chosen_ids), len(self.rejected_ids))


def length_grouped_batches(pairs: list[EncodedPair], *, batch_size: int, window: int, seed: int) -> list[list[int]]:
    """Indices of `pairs` cut into batches of `batch_size`, grouped by length; deterministic in `seed`."""
    rng = random.Random(seed)
    idx = list(range(len(pairs)))
    rng.shuffle(idx)
    batches = []
    span = batch_size * max(1, window)
    for start in range(0, len(idx), span):
        chunk = sorted(idx[start : start + span], key=lambda i: pairs[i].n_tokens, reverse=True)
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def split_by_token_budget(batch: list[int], pairs: list[EncodedPair], max_tokens: int) -> list[list[int]]:
    """Cuts one batch into micro-batches whose padded size (2 x pairs x longest) stays under
    `max_tokens` (always at least one pair per micro-batch). Longest pairs first, so each
    micro-batch pads to a length close to its own."""
    ordered = sorted(batch, key=lambda i: pairs[i].n_tokens, reverse=True)
    out, current, longest = [], [], 0
    for i in ordered:
        longest_if_added = max(longest, pairs[i].n_tokens)
        if current and 2 * (len(current) + 1) * longest_if_added > max_tokens:
            out.append(current)
            current, longest_if_added = [], pairs[i].n_tokens
        current.append(i)
        longest = longest_if_added
    if current:
        out.append(current)
    return out


def pad_right(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, T) ids and attention mask, padded on the right to the longest sequence."""
    longest = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), longest), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[row, : len(s)] = 1
    return ids, mask


def collate(pairs: list[EncodedPair], pad_id: int) -> dict[str, torch.Tensor]:
    """Chosen then rejected in one tensor, so one forward pass scores both."""
    ids, mask = pad_right([p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs], pad_id)  # (2n, T)
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "p_win": torch.tensor([p.p_win for p in pairs]),  # (n,)
        "p_tie": torch.tensor([p.p_tie for p in pairs]),
        "margin": torch.tensor([p.margin for p in pairs]),
        "weight": torch.tensor([p.weight for p in pairs]),
        "length_feature": torch.tensor([p.length_feature for p in pairs]),
    }


def collate_shared_prefix(pairs: list[EncodedPair], pad_id: int) -> dict[str, torch.Tensor]:
    """One row per pair for causal decoders: shared prefix, chosen's own tokens, rejected's own
    tokens. Rejected's tokens see the prefix and themselves (never chosen's) and continue its
    positions, so each response's hidden states are exactly those of its own sequence, while the
    prompt (the longer part of a multi-turn pair) goes through the model once instead of twice.
    `rewardmodel.packing.collate_packed` without packing, plus its (n, 1, T, T) boolean mask
    (True = may attend) for a model on SDPA."""
    from transformers.masking_utils import sdpa_mask

    from rewardmodel.packing import collate_packed, segment_mask_function

    batch = collate_packed(pairs, pad_id, shared_prefix=True, pack=False)
    n, T = batch["input_ids"].shape
    batch["attention_mask"] = sdpa_mask(
        batch_size=n, q_length=T, kv_length=T, allow_is_causal_skip=False,
        mask_function=segment_mask_function(batch["segment"], batch["part"]),
    )
    return batch
