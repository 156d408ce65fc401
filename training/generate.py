"""Sampling responses from a saved policy (SFT or PPO) for prompts given as conversations."""
import torch

from training.rollout import sample_responses
from training.text import clean_response, render_prompt


@torch.no_grad()
def generate_responses(model_path: str, conversations: list[list[dict]], *, max_new_tokens: int = 32,
                       temperature: float = 0.7, top_p: float = 1.0, max_prompt_tokens: int = 64, seed: int = 0,
                       batch_size: int = 16) -> list[str]:
    from transformers import AutoModelForCausalLM

    from common.ml.loading import from_pretrained_strict, load_tokenizer

    tok = load_tokenizer(model_path)
    tok.padding_side, tok.truncation_side = "left", "left"
    model = from_pretrained_strict(AutoModelForCausalLM, model_path).eval()
    generator = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(conversations), batch_size):
        prompts = [render_prompt(m) for m in conversations[start:start + batch_size]]
        enc = tok(prompts, return_tensors="pt", padding=True, truncation=True, max_length=max_prompt_tokens,
                  add_special_tokens=False)
        responses, _, _ = sample_responses(
            model, enc["input_ids"], enc["attention_mask"], max_new_tokens=max_new_tokens, temperature=temperature,
            top_p=top_p, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, generator=generator,
        )
        out.extend(clean_response(t) for t in tok.batch_decode(responses, skip_special_tokens=True))
    return out
