"""Pieces of a PPO step that are not the algorithm itself: sampling with a KV cache, the forward
pass that returns response-token log-probabilities, and masked statistics. (Scoring with the reward
model is rewardmodel/reward.py's, the same code that trains and serves it.)

Why our own sampler rather than `model.generate`: on a CPU with small models, generate's per-token
bookkeeping (logits processors, stopping criteria, cache classes chosen per call) costs as much as
the model itself, and we need the log-probabilities of the sampled tokens anyway, which the loop
below gets for free from the logits it already has.
"""
import torch


def positions_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) attention mask of left-padded rows -> (B, L) position ids that start at 0 on each
    row's first real token (so a padded prompt is positioned like an unpadded one)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """(B, V) logits with everything outside the smallest set of tokens whose probability mass
    reaches `top_p` set to -inf (nucleus sampling); the most likely token always stays."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    drop = probs.cumsum(-1) - probs > top_p
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.empty_like(logits).scatter_(-1, order, sorted_logits)


SAMPLERS = ("race", "inverse_cdf")


@torch.no_grad()
def sample_responses(
    model,
    query: torch.Tensor,
    query_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    eos_id: int,
    pad_id: int,
    generator: torch.Generator,
    keep_distributions: bool = False,
    sampler: str = "race",
):
    """Samples up to `max_new_tokens` tokens after each left-padded query, one token per forward
    pass on the model's KV cache (`cache`, formerly `past_key_values`).

    Returns (responses (B, R) with `pad_id` after each row's EOS, logprobs (B, R) of the sampled
    tokens under softmax(logits / temperature), and when `keep_distributions` the full (B, R, V)
    log-softmax for the "full" KL estimator, else None). R <= max_new_tokens: sampling stops early
    once every row has produced EOS. `sampler`: "race" (argmax of p / E, E ~ Exp(1): one random
    number per vocabulary entry) or "inverse_cdf" (one uniform per row, looked up in the cumulative
    distribution: about 9x less CPU on an 8,000-token vocabulary; both draw exactly from p, but
    not the same tokens for a seed)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}.")
    B = query.shape[0]
    mask = query_mask.long()
    positions = positions_from_mask(mask)
    out = model(input_ids=query, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    cache, logits = out.cache, out.logits[:, -1]  # (B, V)
    next_position = positions[:, -1:] + 1  # (B, 1)
    finished = torch.zeros(B, dtype=torch.bool, device=query.device)
    tokens, logprobs, distributions = [], [], []
    for _ in range(max_new_tokens):
        scaled = logits.float() / temperature
        logp = scaled.log_softmax(-1)  # (B, V)
        probs = top_p_filter(scaled, top_p).softmax(-1)
        # argmax(p / E) with E ~ Exp(1) is a draw from p (the exponential race), several times
        # cheaper than torch.multinomial on a wide vocabulary.
        if sampler == "race":
            race = torch.empty_like(probs).exponential_(generator=generator)
            token = (probs / race).argmax(-1)  # (B,)
        else:
            cdf = probs.cumsum(-1)  # (B, V); a zero-probability token never holds cdf[i-1] <= u < cdf[i]
            u = torch.rand(B, 1, generator=generator, device=probs.device) * cdf[:, -1:]  # (B, 1) in [0, total)
            token = torch.searchsorted(cdf, u, right=True)[:, 0].clamp(max=probs.shape[-1] - 1)  # (B,)
        token = token.masked_fill(finished, pad_id)
        tokens.append(token)
        logprobs.append(logp.gather(-1, token[:, None]).squeeze(-1))
        if keep_distributions:
            distributions.append(logp)
        finished |= token == eos_id
        if bool(finished.all()):
            break
        mask = torch.cat([mask, mask.new_ones(B, 1)], dim=1)
        out = model(
            input_ids=token[:, None], attention_mask=mask, position_ids=next_position,
            cache=cache, use_cache=True,
        )
        cache, logits = out.cache, out.logits[:, -1]
        next_position = next_position + 1
    responses = torch.stack(tokens, dim=1)
    all_logprobs = torch.stack(distributions, dim=1) if keep_distributions else None
    return responses, torch.stack(logprobs, dim=1), all_logprobs


def response_mask_and_lengths(responses: torch.Tensor, eos_id: int):
    """(B, R) responses -> (mask (B, R) true up to and including the first EOS, lengths (B,),
    has_eos (B,))."""
    is_eos = responses == eos_id
    has_eos = is_eos.any(-1)
    first_eos = torch.where(has_eos, is_eos.float().argmax(-1), torch.full_like(has_eos, responses.shape[1] - 1, dtype=torch.long))
    idx = torch.arange(responses.shape[1], device=responses.device)[None, :]
    mask = idx <= first_eos[:, None]
    return mask, first_eos + 1, has_eos


def response_logits(model, query, query_mask, responses, response_mask):
    """Forward pass over query + response, keeping the logits only where they predict response
    tokens: with a vocabulary much wider than the hidden size, the LM head over the prompt would
    cost more than the whole transformer. Returns (B, R, V)."""
    R = responses.shape[1]
    input_ids = torch.cat([query, responses[:, :-1]], dim=1)  # (B, P + R - 1)
    mask = torch.cat([query_mask.long(), response_mask[:, :-1].long()], dim=1)
    out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions_from_mask(mask), logits_to_keep=R)
    return out.logits  # (B, R, V)


def response_values(value_model, query, query_mask, responses, response_mask):
    """Per-token values V(s_t) of the state before each response token: (B, R)."""
    R = responses.shape[1]
    input_ids = torch.cat([query, responses[:, :-1]], dim=1)
    mask = torch.cat([query_mask.long(), response_mask[:, :-1].long()], dim=1)
    out = value_model(input_ids=input_ids, attention_mask=mask, position_ids=positions_from_mask(mask))
    return out.logits[:, -R:, 0].float()


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, *, shift_mean: bool = True) -> torch.Tensor:
    """Normalises x to unit variance (and zero mean unless `shift_mean` is False) over the
    masked-in entries."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    whitened = (x - mean) * torch.rsqrt(var + 1e-8)
    return whitened if shift_mean else whitened + mean
