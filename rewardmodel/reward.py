"""Where a reward model's reward is read, decided in one place: training, evaluation during and
after training, `score`, `evaluate_reward_model`, the scoring API and PPO all read it through here.

A decoder reads it at each sequence's last attended token, the EOS that `rewardmodel.text.encode`
appends, found from the attention mask. Not through Hugging Face's default pooling: that takes the
last token that is not pad, and when pad = EOS (GPT-2, Llama, Qwen and Mistral tokenizers have no
pad token, so they get pad = EOS) that is the token before the EOS, a position the head never
trained on. An encoder reads its pooled first token, as its own sequence-classification head does.
Nothing here touches Django (PPO runs under `accelerate launch` without it).
"""
import torch

from rewardmodel.backbone import is_decoder

SCORING_BATCH = 32


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) attention mask -> (B,) index of each row's last attended token, whichever side the
    padding is on."""
    T = attention_mask.shape[-1]
    return (T - 1) - attention_mask.long().flip(-1).argmax(-1)


def rewards_at(model, hidden: torch.Tensor, index: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, d) last hidden states of a decoder, (n,) positions in `rows` (default: one per row,
    in order) -> (n,) rewards from its score head."""
    if rows is None:
        rows = torch.arange(hidden.shape[0], device=hidden.device)
    return model.score(hidden[rows, index])[:, 0].float()


def sequence_rewards(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) ids and attention mask -> (B,) rewards, read where this module says."""
    if not is_decoder(model):
        return model(input_ids=input_ids, attention_mask=attention_mask).logits[:, 0].float()
    if not isinstance(getattr(model, "score", None), torch.nn.Linear):
        raise ValueError(f"{type(model).__name__} has no linear `score` head to read a decoder's reward from.")
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, d)
    return rewards_at(model, hidden, last_token_index(attention_mask))


@torch.inference_mode()
def score_conversations(model, tokenizer, items: list[tuple[object, str]], *, max_length: int) -> tuple[list[float], int]:
    """Rewards of (prompt, response) items, prompt as text (one user turn) or [{role, content}],
    rendered and encoded exactly as training encodes them (truncated from the left to
    `max_length`); also how many were truncated. Batches of similar length, in the model's device."""
    from rewardmodel.batching import pad_right
    from rewardmodel.text import as_messages, encode, render, special_affixes

    decoder = is_decoder(model)
    device = next(model.parameters()).device
    affixes = special_affixes(tokenizer)
    encoded = [
        encode(tokenizer, render(tokenizer, as_messages(p), r, decoder=decoder), max_length=max_length, decoder=decoder,
               affixes=affixes)
        for p, r in items
    ]
    scores = [0.0] * len(encoded)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    for start in range(0, len(order), SCORING_BATCH):
        chunk = order[start : start + SCORING_BATCH]
        ids, mask = pad_right([encoded[i][0] for i in chunk], tokenizer.pad_token_id)  # (n, T)
        for i, r in zip(chunk, sequence_rewards(model, ids.to(device), mask.to(device)).tolist()):
            scores[i] = r
    return scores, sum(t for _, t in encoded)
