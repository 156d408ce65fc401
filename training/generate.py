"""Sampling responses from a saved causal LM (SFT, PPO, or any local model folder) for prompts given
as conversations."""
import torch

from training.rollout import sample_responses
from training.text import clean_response, render_prompt


def load_generator(model_path: str):
    """(model in eval mode, tokenizer padding and truncating on the left) of a local causal LM folder."""
    from transformers import AutoModelForCausalLM

    from common.ml.loading import from_pretrained_strict, load_tokenizer

    tok = load_tokenizer(model_path)
    tok.padding_side, tok.truncation_side = "left", "left"
    return from_pretrained_strict(AutoModelForCausalLM, model_path).eval(), tok


def render_for_generation(tok, messages: list[dict], *, chat_template: bool) -> str:
    """The model's own chat template when asked for and it has one, else the plain HH transcript."""
    if chat_template and getattr(tok, "chat_template", None):
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return render_prompt(messages)


@torch.no_grad()
def generate_with(model, tok, conversations: list[list[dict]], *, max_new_tokens: int = 32, temperature: float = 0.7,
                  top_p: float = 1.0, max_prompt_tokens: int = 64, generator: torch.Generator | None = None,
                  batch_size: int = 16, chat_template: bool = False) -> list[str]:
    """One sampled response per conversation, with a model already loaded (load_generator)."""
    generator = generator or torch.Generator().manual_seed(0)
    out = []
    for start in range(0, len(conversations), batch_size):
        prompts = [render_for_generation(tok, m, chat_template=chat_template) for m in conversations[start:start + batch_size]]
        enc = tok(prompts, return_tensors="pt", padding=True, truncation=True, max_length=max_prompt_tokens,
                  add_special_tokens=False)
        responses, _, _ = sample_responses(
            model, enc["input_ids"], enc["attention_mask"], max_new_tokens=max_new_tokens, temperature=temperature,
            top_p=top_p, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, generator=generator,
        )
        out.extend(clean_response(t) for t in tok.batch_decode(responses, skip_special_tokens=True))
    return out


def generate_responses(model_path: str, conversations: list[list[dict]], *, max_new_tokens: int = 32,
                       temperature: float = 0.7, top_p: float = 1.0, max_prompt_tokens: int = 64, seed: int = 0,
                       batch_size: int = 16) -> list[str]:
    model, tok = load_generator(model_path)
    return generate_with(model, tok, conversations, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                         max_prompt_tokens=max_prompt_tokens, generator=torch.Generator().manual_seed(seed),
                         batch_size=batch_size)
