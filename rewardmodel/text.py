"""What the reward model reads: a conversation and a response rendered as plain text, tokenised
and, when too long, truncated from the left (keeping the end, where two responses differ, and the
tokenizer's start tokens)."""
from dataclasses import dataclass

from common.ml.hh import hh_prompt


@dataclass
class PairExample:
    """A comparison in text form (before tokenisation)."""

    pair_id: int
    prompt_id: int
    messages: list[dict]
    chosen: str
    rejected: str
    p_win: float = 1.0
    p_tie: float = 0.0
    margin: float = 0.0
    weight: float = 1.0
    agreement: float = 1.0
    n_votes: int = 0
    gold_is_chosen: bool | None = None


def as_messages(prompt) -> list[dict]:
    """A prompt given as text or as [{role, content}] -> [{role, content}]."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in prompt]


def render(tokenizer, messages: list[dict], response: str, *, decoder: bool) -> str:
    """The chat template for decoders that have one, else Anthropic HH's plain transcript. Training,
    evaluation, scoring and PPO all render through here."""
    if decoder and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=False)
    return f"{hh_prompt(messages)} {response}"


def special_affixes(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer adds before and after a text ([CLS] / [SEP], BOS...)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for k in range(len(full) - len(plain) + 1):
        if full[k : k + len(plain)] == plain:
            return full[:k], full[k + len(plain) :]
    return [], []


def encode(tokenizer, text: str, *, max_length: int, decoder: bool, affixes=None) -> tuple[list[int], bool]:
    """(token ids, truncated?). Decoders get EOS appended: their reward is read there, at the last
    attended token (rewardmodel/reward.py). The tokenizer's own special tokens ([CLS] ... [SEP],
    BOS) are kept whatever the length."""
    prefix, suffix = affixes or special_affixes(tokenizer)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    special = set(tokenizer.all_special_ids)
    while ids and ids[0] in special and len(prefix) < 2:  # a BOS the chat template wrote as text
        prefix = prefix + [ids.pop(0)]
    tail = [tokenizer.eos_token_id] if decoder and tokenizer.eos_token_id is not None else []
    budget = max_length - len(prefix) - len(suffix) - len(tail)
    truncated = len(ids) > budget
    if truncated:
        ids = ids[len(ids) - budget :]
    return prefix + ids + suffix + tail, truncated


def encode_examples(tokenizer, examples, *, max_length: int, decoder: bool):
    """PairExamples -> (EncodedPairs, number truncated). No pair is dropped for its length."""
    from rewardmodel.batching import EncodedPair

    affixes = special_affixes(tokenizer)
    out, n_truncated = [], 0
    for e in examples:
        messages = as_messages(e.messages)
        chosen, t1 = encode(tokenizer, render(tokenizer, messages, e.chosen, decoder=decoder), max_length=max_length, decoder=decoder, affixes=affixes)
        rejected, t2 = encode(tokenizer, render(tokenizer, messages, e.rejected, decoder=decoder), max_length=max_length, decoder=decoder, affixes=affixes)
        n_truncated += t1 or t2
        lw, ll = len(e.chosen), len(e.rejected)
        out.append(EncodedPair(
            chosen_ids=chosen, rejected_ids=rejected, p_win=e.p_win, p_tie=e.p_tie, margin=e.margin, weight=e.weight,
            length_feature=(lw - ll) / (lw + ll) if lw + ll else 0.0, truncated=t1 or t2,
            meta={"agreement": e.agreement, "gold_is_chosen": e.gold_is_chosen, "len_chosen": lw, "len_rejected": ll},
        ))
    return out, n_truncated
