"""Rows of segments for causal decoders: the shared-prompt layout and sequence packing.

A segment is one pair's tokens laid out for one forward pass: with `shared_prefix`, one segment
`prompt + chosen's own tokens + rejected's own tokens` (rejected's tokens see the prompt and
themselves, never chosen's, and continue the prompt's positions); without, two segments, chosen
and rejected. Without packing each pair gets its own row (the shared-prompt layout); with
packing, several pairs' segments share one row (first-fit decreasing into rows as long as the
micro-batch's longest segment, so a row costs attention no more than a padded one, or longer:
`row_tokens`), their position ids restarting at 0 and attention confined to each segment
(block-diagonal causal).

Who may attend to whom is one mask function of two (R, T) tensors, `segment` and `part`, which
transformers turns into the mask its attention implementation wants (a boolean tensor for SDPA,
an additive one for eager, a block-sparse `BlockMask` for flex attention: tested on the CPU with
Llama; GPT-2's forward reads the mask's `.ndim`, which a BlockMask lacks, so GPT-2 is refused
flex). Either way every
real token sees exactly the tokens of its own sequence at its own positions, so the rewards are
those of separate padded sequences to float rounding (tests/rewardmodel/test_packing.py).

Transformers' own packing (position ids restarting, no attention mask; `find_packed_sequence_
indices`) cannot express the shared prompt: rejected's positions do not restart, so it would be
cut off from its prompt. Hence the explicit mask. Encoders are refused: their reward is read from
a pooled first token through a model-specific pooler, and their attention is not causal.
"""
import torch

PREFIX, CHOSEN, REJECTED = 0, 1, 2
"""`part` of a token: the shared prompt (or a whole unshared sequence), chosen's own, rejected's own."""
PAD_SEGMENT = -1


def pair_segments(chosen: list[int], rejected: list[int], *, shared_prefix: bool) -> list[dict]:
    """One segment (shared prompt) or two (chosen, rejected): ids, positions, parts, and the
    offsets of chosen's and rejected's last tokens (their EOS, where the reward is read)."""
    if not shared_prefix:
        return [
            {"ids": list(chosen), "pos": list(range(len(chosen))), "part": [PREFIX] * len(chosen), "chosen": len(chosen) - 1},
            {"ids": list(rejected), "pos": list(range(len(rejected))), "part": [PREFIX] * len(rejected), "rejected": len(rejected) - 1},
        ]
    k, limit = 0, min(len(chosen), len(rejected)) - 1  # each side keeps at least its last (reward) token
    while k < limit and chosen[k] == rejected[k]:
        k += 1
    return [{
        "ids": chosen + rejected[k:],
        "pos": list(range(len(chosen))) + list(range(k, len(rejected))),
        "part": [PREFIX] * k + [CHOSEN] * (len(chosen) - k) + [REJECTED] * (len(rejected) - k),
        "chosen": len(chosen) - 1,
        "rejected": len(chosen) + len(rejected) - k - 1,
        "shared": k,
    }]


def first_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Indices of `lengths` in bins of at most `capacity` (an item longer than it gets its own bin):
    longest first, each into the first bin with room. Deterministic."""
    bins, room = [], []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for b, free in enumerate(room):
            if lengths[i] <= free:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(capacity - lengths[i])
    return bins


def collate_packed(pairs, pad_id: int, *, shared_prefix: bool, pack: bool, row_tokens: int = 0) -> dict[str, torch.Tensor]:
    """Rows of segments (with `pack`, in rows of max(`row_tokens`, longest segment)), (R, T) each: `input_ids`, `position_ids`, `segment` (a segment's number,
    -1 on padding) and `part`; (n,) row and column of each pair's chosen and rejected last token;
    `num_tokens` real and `num_padded_tokens` (R x T) computed; the pairs' labels."""
    segments = [s for p in pairs for s in pair_segments(p.chosen_ids, p.rejected_ids, shared_prefix=shared_prefix)]
    owners = [i for i, p in enumerate(pairs) for _ in range(1 if shared_prefix else 2)]
    lengths = [len(s["ids"]) for s in segments]
    rows = first_fit_decreasing(lengths, max(row_tokens, *lengths)) if pack else [[j] for j in range(len(segments))]
    R, T = len(rows), max(sum(lengths[j] for j in row) for row in rows)
    ids = torch.full((R, T), pad_id, dtype=torch.long)  # (R, T)
    pos = torch.zeros((R, T), dtype=torch.long)  # padding at position 0: a row may be longer than the model's positions
    segment = torch.full((R, T), PAD_SEGMENT, dtype=torch.long)
    part = torch.full((R, T), PREFIX, dtype=torch.long)
    at = {"chosen": torch.zeros((2, len(pairs)), dtype=torch.long), "rejected": torch.zeros((2, len(pairs)), dtype=torch.long)}
    shared = torch.zeros(len(pairs), dtype=torch.long)
    for r, row in enumerate(rows):
        start = 0
        for j in row:
            s, end = segments[j], start + lengths[j]
            ids[r, start:end], pos[r, start:end] = torch.tensor(s["ids"]), torch.tensor(s["pos"])
            segment[r, start:end], part[r, start:end] = j, torch.tensor(s["part"])
            for side in ("chosen", "rejected"):
                if side in s:
                    at[side][:, owners[j]] = torch.tensor([r, start + s[side]])
            shared[owners[j]] = s.get("shared", 0)
            start = end
    return {
        "input_ids": ids,
        "position_ids": pos,
        "segment": segment,
        "part": part,
        "chosen_row": at["chosen"][0], "chosen_end": at["chosen"][1],  # (n,)
        "rejected_row": at["rejected"][0], "rejected_end": at["rejected"][1],
        "shared": shared,  # (n,) tokens of the shared prefix (0 without shared_prefix)
        "num_tokens": torch.tensor(sum(lengths)),
        "num_padded_tokens": torch.tensor(R * T),
        "p_win": torch.tensor([p.p_win for p in pairs]),
        "p_tie": torch.tensor([p.p_tie for p in pairs]),
        "margin": torch.tensor([p.margin for p in pairs]),
        "weight": torch.tensor([p.weight for p in pairs]),
        "length_feature": torch.tensor([p.length_feature for p in pairs]),
    }


def segment_mask_function(segment: torch.Tensor, part: torch.Tensor):
    """transformers' mask function (batch, head, q, kv) -> may q attend to kv: causal, within one
    segment, and never from rejected's own tokens to chosen's. Index-based, so it serves SDPA's
    and eager's broadcast construction and flex attention's `mask_mod` alike."""

    def may_attend(b, h, q, kv):
        same = segment[b, q] == segment[b, kv]
        hidden = (part[b, q] == REJECTED) & (part[b, kv] == CHOSEN)
        return (kv <= q) & same & ~hidden

    return may_attend


def segment_attention_mask(model, segment: torch.Tensor, part: torch.Tensor, *, dtype=torch.float32):
    """The (R, 1, T, T) mask (or flex `BlockMask`) for `model`'s attention implementation. Flash
    attention takes no such mask and is refused, and so is flex attention on GPT-2."""
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    implementation = model.config._attn_implementation
    if implementation not in ("sdpa", "eager", "flex_attention"):
        raise ValueError(f"Packed or shared-prompt rows need sdpa, eager or flex_attention attention, not {implementation!r}.")
    if implementation == "flex_attention" and model.config.model_type == "gpt2":
        raise ValueError("GPT-2's forward cannot take flex_attention's block mask (it reads the mask's ndim); use sdpa.")
    R, T = segment.shape
    return ALL_MASK_ATTENTION_FUNCTIONS[implementation](
        batch_size=R, q_length=T, kv_length=T, mask_function=segment_mask_function(segment, part),
        allow_is_causal_skip=False, dtype=dtype, device=segment.device,
    )
