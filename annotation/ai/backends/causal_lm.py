"""A local Hugging Face causal LM as a judge: the prompt ends where the answer starts, and the
verdict is read from the next-token probabilities of the answer letters, no text generated.

p(first better) = p(A) / (p(A) + p(B)), where p(A) sums the probabilities of the tokens that begin
"A" and " A" where each is one token (tokenizers write a letter after a space as another token)."""
from functools import lru_cache

import torch
from scipy.special import expit

from annotation.ai import prompting
from annotation.ai.aggregation import OrderVerdict, p_a_of_first, verdict_from_probability


@lru_cache(maxsize=2)
def _load(model_path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_path, local_files_only=True)
    model.eval()
    return model, tokenizer


def answer_token_ids(tokenizer, letter: str) -> list[int]:
    """The ids of `letter` and ` letter`, each where the tokenizer writes it as one token."""
    ids = set()
    for text in (letter, f" {letter}"):
        encoded = tokenizer.encode(text, add_special_tokens=False)
        if len(encoded) == 1:
            ids.add(encoded[0])
    if not ids:
        raise ValueError(f"The tokenizer has no single token for the answer {letter!r}.")
    return sorted(ids)


def prompt_ids(tokenizer, prompt: str, *, max_length: int) -> torch.Tensor:
    """(1, T) ids of the prompt (through the chat template when the tokenizer has one), truncated
    from the left so that the end, where the answer starts, is kept."""
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                               tokenize=False)
    ids = tokenizer.encode(prompt, add_special_tokens=False)[-max_length:]
    return torch.tensor([ids])


@torch.inference_mode()
def letter_log_probs(model, tokenizer, prompt: str, *, max_length: int) -> tuple[float, float]:
    """log p(A), log p(B) of the token after the prompt, each summed over its spellings."""
    ids = prompt_ids(tokenizer, prompt, max_length=max_length).to(next(model.parameters()).device)  # (1, T)
    logits = model(input_ids=ids).logits[0, -1].float()  # (V,)
    log_probs = torch.log_softmax(logits, dim=-1)
    a_ids, b_ids = answer_token_ids(tokenizer, "A"), answer_token_ids(tokenizer, "B")
    if set(a_ids) & set(b_ids):
        raise ValueError("The tokenizer writes 'A' and 'B' with a shared first token; their probabilities cannot be told apart.")
    return torch.logsumexp(log_probs[a_ids], 0).item(), torch.logsumexp(log_probs[b_ids], 0).item()


class CausalLMJudge:
    judges_positions = True

    def __init__(self, model_path: str, *, template: str = "", tie_margin: float, max_length: int | None = None):
        self.model_path = model_path
        self.judge_model = model_path
        self.template = template
        self.tie_margin = tie_margin
        self.max_length = max_length

    def judge(self, *, messages: list[dict], first: str, second: str, order: str, principle: str) -> OrderVerdict:
        model, tokenizer = _load(self.model_path)
        max_length = int(self.max_length or getattr(model.config, "max_position_embeddings", None) or 1024)
        prompt = prompting.render(self.template, messages=messages, first=first, second=second, principle=principle)
        log_a, log_b = letter_log_probs(model, tokenizer, prompt, max_length=max_length)
        p_first = float(expit(log_a - log_b))
        p_a = p_a_of_first(p_first, order)
        return OrderVerdict(order=order, verdict=verdict_from_probability(p_a, tie_margin=self.tie_margin), p_a=p_a,
                            raw=f"logp(A)={log_a:.4f} logp(B)={log_b:.4f}")
