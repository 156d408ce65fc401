"""Samples of a policy that learns without sampling (DPO, KTO, SPIN): a few prompts' responses drawn
with the PPO sampler (training/rollout.py), each with its implicit reward beta * (log pi - log ref)
and the log-ratio itself, summed over the response's tokens up to and including EOS. DPO and KTO
draw them every `sample_every` steps (`SampleOptions`) for reading and for the reward-hacking
monitors; SPIN draws the policy's own responses, the "rejected" side of each iteration."""
from dataclasses import dataclass

import torch

from training.rollout import response_logits, response_mask_and_lengths, sample_responses
from training.text import clean_response


@dataclass
class SampleOptions:
    """The sampling settings of a trainer that does not sample to learn (DPOConfig, KTOConfig)."""

    sample_every: int = 0
    """Draw responses to a few held-out prompts every this many steps, before the first and at the
    end (for reading, and for the reward-hacking monitors); 0: never."""
    sample_prompts: int = 8
    """Prompts sampled each time (held-out prompts first, then training ones)."""
    sample_max_new_tokens: int = 48
    """Longest sampled response."""
    sample_temperature: float = 0.7
    """Sampling temperature (seeded: the same step draws the same responses on a resumed run)."""

    def sample_checks(self) -> list[tuple[bool, str]]:
        """(ok, message) checks of these settings, for the trainer config's __post_init__."""
        return [
            (self.sample_every >= 0 and self.sample_prompts >= 1 and self.sample_max_new_tokens >= 1,
             "sample_every must be at least 0, sample_prompts and sample_max_new_tokens at least 1"),
            (self.sample_temperature > 0, f"sample_temperature must be positive, not {self.sample_temperature}"),
        ]


@dataclass
class Drawn:
    prompt: str
    response: str
    """Decoded text, cut where the model starts the next turn (what labellers and monitors read)."""
    response_ids: list[int]
    """The sampled tokens up to and including EOS (when it came)."""
    logp: float
    """log pi(response | prompt), summed over the response tokens."""
    ref_logp: float | None
    """The same under the reference; None when no reference was given."""


def left_padded(prompt_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, P) ids and mask, padded on the left (the sampler continues each row at its end)."""
    longest = max(len(ids) for ids in prompt_ids)
    ids = torch.full((len(prompt_ids), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), longest), dtype=torch.long)
    for row, p in enumerate(prompt_ids):
        ids[row, longest - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[row, longest - len(p):] = 1
    return ids, mask


def _response_logps(model, query, query_mask, responses, mask) -> torch.Tensor:
    logits = response_logits(model, query, query_mask, responses, mask)  # (B, R, V)
    logps = torch.log_softmax(logits.float(), -1).gather(-1, responses[:, :, None])[:, :, 0]  # (B, R)
    return (logps * mask).sum(-1)  # (B,)


@torch.no_grad()
def draw_samples(policy, tokenizer, prompts: list[str], *, reference=None, max_new_tokens: int,
                 max_prompt_tokens: int, temperature: float, seed: int, batch_size: int = 16) -> list[Drawn]:
    """One seeded sample per prompt (prompts cut from the left to `max_prompt_tokens`), in order."""
    device = next(policy.parameters()).device
    was_training = policy.training
    policy.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    out = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        ids = [tokenizer(p, add_special_tokens=False)["input_ids"][-max_prompt_tokens:] or [eos_id] for p in chunk]
        query, query_mask = (t.to(device) for t in left_padded(ids, pad_id))  # (B, P)
        responses, _, _ = sample_responses(policy, query, query_mask, max_new_tokens=max_new_tokens,
                                           temperature=temperature, top_p=1.0, eos_id=eos_id, pad_id=pad_id,
                                           generator=generator)  # (B, R)
        mask, lengths, _ = response_mask_and_lengths(responses, eos_id)  # (B, R), (B,)
        logp = _response_logps(policy, query, query_mask, responses, mask)  # (B,)
        ref_logp = _response_logps(reference, query, query_mask, responses, mask) if reference is not None else None
        for i, prompt in enumerate(chunk):
            tokens = responses[i, : int(lengths[i])].tolist()
            out.append(Drawn(prompt=prompt, response=clean_response(tokenizer.decode(tokens, skip_special_tokens=True)),
                             response_ids=tokens, logp=float(logp[i]),
                             ref_logp=float(ref_logp[i]) if ref_logp is not None else None))
    policy.train(was_training)
    return out


def draw_if_due(cfg, step: int, on_sample, accelerator, policy, reference, tokenizer) -> None:
    """Calls `on_sample(step, policy, reference, tokenizer)` on the main process when step `step`
    draws samples: before the first step (0), every `cfg.sample_every` steps and after the last
    (DPO's and KTO's loops; `cfg` has sample_every and steps). Other processes go on to the next
    step and wait for the main one at its first collective."""
    due = step == 0 or step == cfg.steps or step % max(cfg.sample_every, 1) == 0
    if on_sample is None or not cfg.sample_every or not due or not accelerator.is_main_process:
        return
    with accelerator.autocast():
        on_sample(step, policy, reference, tokenizer)
