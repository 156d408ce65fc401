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


class DynamicDecoder:
    """Today's decoding: the model's own growing KV cache (a DynamicCache), the attention mask
    extended by one column per token."""

    def prefill(self, model, query, mask, positions) -> torch.Tensor:
        """Runs the prompt; returns the (B, V) logits of its last position."""
        self.model, self.mask = model, mask
        out = model(input_ids=query, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        self.cache = out.cache
        return out.logits[:, -1]

    def step(self, token, position) -> torch.Tensor:
        """Feeds one (B,) token at (B, 1) positions; returns the next (B, V) logits."""
        self.mask = torch.cat([self.mask, self.mask.new_ones(self.mask.shape[0], 1)], dim=1)
        out = self.model(input_ids=token[:, None], attention_mask=self.mask, position_ids=position,
                         cache=self.cache, use_cache=True)
        self.cache = out.cache
        return out.logits[:, -1]


class StaticDecoder:
    """A KV cache of fixed size (transformers' StaticCache, `max_len` positions) and an attention
    mask of fixed width, so that the one-token decode forward has the same shapes and addresses at
    every token and in every rollout of a run: what `torch.compile(mode="reduce-overhead")` needs to
    replay it as a CUDA graph. `compile`: compile the decode forward (with `backend`, inductor by
    default); the prompt's forward (its length varies) always runs eagerly. Keep one instance per
    run: the cache and the compiled graph are reused while the batch size stays the same."""

    def __init__(self, max_len: int, *, compile: bool = False, backend: str = "inductor",
                 mode: str | None = "reduce-overhead"):
        self.max_len = max_len
        self.cache = self.model = self.batch_size = None
        self._decode, self.compiled = self._forward, compile
        if compile:
            options = {"mode": mode} if backend == "inductor" else {}
            self._decode = torch.compile(self._forward, backend=backend, dynamic=False, **options)

    def _forward(self, token, mask, position):
        out = self.model(input_ids=token[:, None], attention_mask=mask, position_ids=position, cache=self.cache,
                         use_cache=True)
        return out.logits[:, -1]

    def prefill(self, model, query, mask, positions) -> torch.Tensor:
        from transformers import StaticCache

        B, P = query.shape
        if P > self.max_len - 1:
            raise ValueError(f"A prompt of {P} tokens leaves no room in a static cache of {self.max_len}.")
        if self.model is model and self.batch_size == B:
            self.cache.reset()
        else:
            self.model, self.batch_size = model, B
            self.cache = StaticCache(config=model.config, max_cache_len=self.max_len)
        # (B, max_len): the prompt's mask, then ones; the cache's length masks what is not written yet.
        self.mask = torch.cat([mask, mask.new_ones(B, self.max_len - P)], dim=1)
        out = model(input_ids=query, attention_mask=mask, position_ids=positions, cache=self.cache, use_cache=True,
                    logits_to_keep=1)
        return out.logits[:, -1]

    def step(self, token, position) -> torch.Tensor:
        if self.compiled:  # a new iteration: the graph may overwrite the last step's outputs
            torch.compiler.cudagraph_mark_step_begin()
        return self._decode(token, self.mask, position)


def _noise(probs: torch.Tensor, generator: torch.Generator, sampler: str) -> torch.Tensor:
    """The random numbers one token's draw takes from `generator`: (B, V) exponentials for "race",
    (B, 1) uniforms for "inverse_cdf"."""
    if sampler == "race":
        return torch.empty_like(probs).exponential_(generator=generator)
    return torch.rand(probs.shape[0], 1, generator=generator, device=probs.device)


def _draw(probs: torch.Tensor, noise: torch.Tensor, sampler: str) -> torch.Tensor:
    """(B,) tokens drawn from the (B, V) probabilities with `noise` from `_noise`."""
    if sampler == "race":
        # argmax(p / E) with E ~ Exp(1) is a draw from p (the exponential race), several times
        # cheaper than torch.multinomial on a wide vocabulary.
        return (probs / noise).argmax(-1)
    cdf = probs.cumsum(-1)  # (B, V); a zero-probability token never holds cdf[i-1] <= u < cdf[i]
    u = noise * cdf[:, -1:]  # (B, 1) in [0, total)
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp(max=probs.shape[-1] - 1)  # (B,)


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
    sync_every: int = 1,
    decoder: StaticDecoder | None = None,
):
    """Samples up to `max_new_tokens` tokens after each left-padded query, one token per forward
    pass on the model's KV cache (`cache`, formerly `past_key_values`).

    Returns (responses (B, R) with `pad_id` after each row's EOS, logprobs (B, R) of the sampled
    tokens under softmax(logits / temperature), and when `keep_distributions` the full (B, R, V)
    log-softmax for the "full" KL estimator, else None). R <= max_new_tokens: sampling stops early
    once every row has produced EOS. `sampler`: "race" (argmax of p / E, E ~ Exp(1): one random
    number per vocabulary entry) or "inverse_cdf" (one uniform per row, looked up in the cumulative
    distribution: about 9x less CPU on an 8,000-token vocabulary; both draw exactly from p, but
    not the same tokens for a seed).

    `sync_every`: whether every row has finished is asked of the device (a host synchronisation)
    only every this many tokens; then the trailing columns in which every row had already
    finished are cut off and `generator` is wound back to where the per-token check (1) leaves
    it, so the result and the generator's stream are those of `sync_every=1`. `decoder`: a
    `StaticDecoder` (fixed-size cache, optionally compiled); None: the dynamic cache."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}.")
    if sync_every < 1:
        raise ValueError(f"sync_every must be at least 1; got {sync_every}.")
    decoder = decoder or DynamicDecoder()
    B = query.shape[0]
    positions = positions_from_mask(query_mask.long())
    logits = decoder.prefill(model, query, query_mask.long(), positions)  # (B, V)
    next_position = positions[:, -1:] + 1  # (B, 1)
    finished = torch.zeros(B, dtype=torch.bool, device=query.device)
    tokens, logprobs, distributions = [], [], []
    block_start, block_state = 0, None  # the generator's state before the current block of sync_every tokens
    for t in range(max_new_tokens):
        if sync_every > 1 and t % sync_every == 0:
            block_start, block_state = t, generator.get_state()
        scaled = logits.float() / temperature
        logp = scaled.log_softmax(-1)  # (B, V)
        probs = top_p_filter(scaled, top_p).softmax(-1)
        token = _draw(probs, _noise(probs, generator, sampler), sampler).masked_fill(finished, pad_id)  # (B,)
        tokens.append(token)
        logprobs.append(logp.gather(-1, token[:, None]).squeeze(-1))
        if keep_distributions:
            distributions.append(logp)
        finished |= token == eos_id
        if t + 1 == max_new_tokens or ((t + 1) % sync_every == 0 and bool(finished.all())):
            break
        logits = decoder.step(token, next_position)
        next_position = next_position + 1
    responses = torch.stack(tokens, dim=1)  # (B, R')
    logprobs = torch.stack(logprobs, dim=1)
    all_logprobs = torch.stack(distributions, dim=1) if keep_distributions else None
    if sync_every > 1:
        R = _rows_finished_after(responses, eos_id)
        if R < responses.shape[1]:
            responses, logprobs = responses[:, :R], logprobs[:, :R]
            all_logprobs = all_logprobs[:, :R] if keep_distributions else None
            # Wind the generator back: the per-token check would have drawn R tokens, not R'.
            generator.set_state(block_state)
            for _ in range(R - block_start):  # R > block_start: the previous check saw a row unfinished
                _noise(probs, generator, sampler)
    return responses, logprobs, all_logprobs


def _rows_finished_after(responses: torch.Tensor, eos_id: int) -> int:
    """The number of columns after which every row of (B, R') `responses` had produced EOS (R' when
    some row never did): where the per-token check stops. One host synchronisation."""
    is_eos = responses == eos_id
    first_eos = torch.where(is_eos.any(-1), is_eos.float().argmax(-1), responses.shape[1] - 1)  # (B,)
    return int(first_eos.max()) + 1


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
