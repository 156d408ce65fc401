"""PPO against a reward model with a KL penalty to a frozen reference: step 3 of RLHF.

Read it top to bottom: `PPOConfig` (the options, named as in the classic TRL PPOTrainer), then
`gae` and `ppo_train`, whose body runs the numbered phases of one PPO step:
  1. rollout   sample responses from the policy (temperature, top-p, max new tokens, KV cache)
  2. score     decode, re-tokenise for the reward model, score; penalise responses without EOS
  3. KL        log-probabilities of the frozen reference; per-token KL estimate
  4. rewards   per-token reward = -beta * KL, plus the score on each response's last token
  5. GAE       advantages and returns, an explicit backwards loop; advantages whitened
  6. PPO       several epochs of mini-batches: clipped policy loss + clipped value loss
  7. beta      the KL controller sees the batch's KL (over all processes)
  8. log       metrics named as in TRL (`objective/kl`, `policy/clipfrac`, ...), over all processes
Each phase is a function the loop calls in order (`rollout_phase`, `score_phase`,
`reference_and_value_phase`, `advantages_phase`, `update_phase`, `step_metrics`).

Value model. The reward model may have its own tokenizer (a MiniLM cross-encoder, say), so it
cannot value the policy's tokens one by one, and InstructGPT's choice (initialise the value from
the reward model) is impossible in general. We take the value model from the policy side: a
separate copy of the SFT backbone with a one-output token-classification head
(`AutoModelForTokenClassification`, num_labels=1), trained alongside the policy by the same
optimiser. Separate rather than a head on the policy because the value loss, whose scale changes
as the returns do, then never pulls on the policy's features (the "N implementation details of
RLHF with PPO" finding), at the cost of one more small forward/backward per mini-batch.

Launch (training/runner.py loads the models from folders and writes checkpoints):
  one device:   python -m training.runner --sft PATH --reward PATH --prompts FILE.txt --out DIR
  several:      accelerate launch -m training.runner --sft PATH --reward PATH --prompts FILE.txt --out DIR
Each process samples its own `batch_size` rollouts and DDP averages the gradients (prepared by
accelerate). What is shared is computed from the whole step, gathered from all processes, as the
classic TRL PPOTrainer does: the KL the controller sees (and its episode count, batch_size x
processes), the running moments of score scaling, and the logged metrics; so beta and the score
scale are the same on every process. On a GPU that supports bf16 it runs in bf16 autocast;
elsewhere in fp32 (common/ml/precision.py).
"""
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from common.ml.precision import MIXED_PRECISION_CHOICES
from common.ml.processes import stop_together
from common.ml.timing import PhaseTimer
from rewardmodel.reward import score_conversations
from training.kl import KL_PENALTIES, AdaptiveKLController, FixedKLController, kl_per_token
from training.rollout import (
    StaticDecoder,
    masked_mean,
    masked_whiten,
    response_logits,
    response_mask_and_lengths,
    response_values,
    sample_responses,
)
from training.text import prompt_messages


@dataclass
class PPOConfig:
    steps: int = 100
    """Number of PPO steps (each one batch of `batch_size` rollouts)."""
    learning_rate: float = 1.41e-5
    """AdamW learning rate for the policy and the value model."""
    batch_size: int = 16
    """Rollouts per PPO step (TRL's classic default is 128; 16 keeps a CPU step short)."""
    mini_batch_size: int = 16
    """Rollouts per gradient step; must divide batch_size."""
    ppo_epochs: int = 4
    """Passes over each rollout batch."""
    init_kl_coef: float = 0.2
    """Initial beta, the weight of the KL penalty."""
    adap_kl_ctrl: bool = True
    """Adapt beta with the proportional controller of Ziegler et al. 2019; else beta is fixed."""
    target: float = 6.0
    """Target KL (nats per response) of the adaptive controller."""
    horizon: float = 10000.0
    """Horizon (episodes) of the adaptive controller."""
    kl_penalty: str = "kl"
    """KL estimator in the reward: "kl", "abs", "mse" or "full" (see training/kl.py)."""
    gamma: float = 1.0
    """Discount factor of GAE."""
    lam: float = 0.95
    """Lambda of GAE."""
    cliprange: float = 0.2
    """Clip range of the policy ratio."""
    cliprange_value: float = 0.2
    """Clip range of the value prediction around its rollout-time value."""
    vf_coef: float = 0.1
    """Weight of the value loss."""
    whiten_rewards: bool = False
    """Whiten the per-token rewards of each batch (mean kept) before GAE."""
    score_scaling: bool = False
    """Divide scores by the running standard deviation of all scores seen so far (by all processes)."""
    score_clip: float | None = None
    """Clip (scaled) scores to [-score_clip, score_clip]; None: no clipping."""
    max_grad_norm: float | None = 1.0
    """Clip the global gradient norm; None: no clipping."""
    missing_eos_penalty: float | None = 1.0
    """Subtracted from the score of a response that never produced EOS; None: no penalty."""
    temperature: float = 0.7
    """Sampling temperature; log-probabilities are taken under the same temperature."""
    top_p: float = 1.0
    """Nucleus sampling threshold (1.0: sample from the whole distribution)."""
    max_new_tokens: int = 32
    """Longest response, in policy tokens."""
    max_prompt_tokens: int = 64
    """Prompts are truncated from the left to this many policy tokens."""
    reward_max_length: int | None = None
    """Reward-model input is truncated from the left to this many reward-model tokens; None: the
    reward model's own limit (its run's training max_length, else its positions)."""
    seed: int = 0
    """Seed of sampling, prompt order and mini-batch shuffling."""
    mixed_precision: str = "auto"
    """"auto": bf16 autocast on a GPU that supports it, fp32 elsewhere; or "no" / "bf16"."""
    save_every: int = 10
    """Write a resumable checkpoint every this many steps (0: only at the end)."""
    sync_every: int = 1
    """The sampler asks the device whether every response has ended (a host synchronisation that
    stalls a GPU's queue) only every this many tokens, then trims the columns sampled after they all
    had: the same responses, log-probabilities and random stream as asking at every token (1), at
    the cost of up to sync_every - 1 forwards past the end of a batch that ends early. 1 by
    measurement on a CPU, where the check costs nothing and the extra forwards do
    (bench/ppo_sampler.py); on a GPU measure 4-16 (the check stalls the queue there)."""
    compile_decode: bool = False
    """For CUDA: sample on a static KV cache (transformers' StaticCache) with the one-token decode
    forward compiled by torch.compile(mode="reduce-overhead"), i.e. replayed as a CUDA graph. On
    other devices the static cache runs uncompiled (CUDA graphs need CUDA). The tokens are those of
    the dynamic cache; log-probabilities agree to float rounding."""

    def __post_init__(self):
        checks = [
            (self.mini_batch_size >= 1 and self.batch_size % self.mini_batch_size == 0,
             "mini_batch_size must be at least 1 and divide batch_size"),
            (self.kl_penalty in KL_PENALTIES, f"kl_penalty must be one of {', '.join(KL_PENALTIES)}"),
            (self.max_new_tokens >= 1, "max_new_tokens must be at least 1"),
            (self.max_prompt_tokens >= 1 and (self.reward_max_length is None or self.reward_max_length >= 8),
             "max_prompt_tokens must be at least 1 and reward_max_length at least 8"),
            (self.steps >= 1 and self.ppo_epochs >= 1, "steps and ppo_epochs must be at least 1"),
            (self.sync_every >= 1, "sync_every must be at least 1"),
            (self.mixed_precision in MIXED_PRECISION_CHOICES, f"unknown mixed_precision {self.mixed_precision!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class PPOModels:
    """Everything a PPO run trains or reads. `reward_tokenizer` may differ from `tokenizer`."""

    policy: torch.nn.Module
    ref_policy: torch.nn.Module
    value_model: torch.nn.Module
    tokenizer: object
    reward_model: torch.nn.Module
    reward_tokenizer: object
    held_out_model: torch.nn.Module | None = None
    held_out_tokenizer: object | None = None


@dataclass
class PPOState:
    """What a checkpoint must restore besides the weights."""

    step: int = 0
    kl_coef: float = 0.2
    score_count: int = 0
    score_mean: float = 0.0
    score_m2: float = 0.0
    prompt_order: list[int] = field(default_factory=list)


def score_responses(reward_model, reward_tokenizer, prompts: list[str], responses: list[str], *,
                    max_length: int) -> torch.Tensor:
    """(B,) rewards of policy samples: each prompt (rendered by `render_prompt`) turned back into
    its turns and scored with its response through rewardmodel/'s renderer, encoder and reward
    position, exactly as the reward model was trained and is served."""
    conversations = [(prompt_messages(p), r.strip()) for p, r in zip(prompts, responses)]
    return torch.tensor(score_conversations(reward_model, reward_tokenizer, conversations, max_length=max_length)[0])


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalised advantage estimation (Schulman et al. 2016) over (B, T) rewards and values;
    positions where `mask` is false (after the response ended) contribute nothing.

        delta_t = r_t + gamma * V_{t+1} - V_t          (V_T = 0, and V = 0 past the end)
        A_t     = delta_t + gamma * lam * A_{t+1}
    Returns (advantages, returns = advantages + values), both (B, T)."""
    values = values * mask
    rewards = rewards * mask
    T = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        next_value = values[:, t + 1] if t + 1 < T else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, advantages + values


def make_kl_controller(cfg: PPOConfig, value: float):
    if cfg.adap_kl_ctrl:
        return AdaptiveKLController(value=value, target=cfg.target, horizon=cfg.horizon)
    return FixedKLController(value=value)


StepCallback = Callable[[int, dict, list[dict]], bool]


@dataclass
class Rollouts:
    """One step's rollouts on this process: B prompts, P prompt tokens, R response tokens."""

    prompts: list[str]
    query: torch.Tensor  # (B, P) left-padded prompt tokens
    query_mask: torch.Tensor  # (B, P)
    responses: torch.Tensor  # (B, R) pad after each row's EOS
    logprobs: torch.Tensor  # (B, R) the sampler's ("old") log-probabilities
    all_logprobs: torch.Tensor | None  # (B, R, V) for the "full" KL estimator, else None
    mask: torch.Tensor  # (B, R) bool: up to and including the first EOS
    maskf: torch.Tensor  # (B, R) the same as floats
    lengths: torch.Tensor  # (B,)
    has_eos: torch.Tensor  # (B,)
    texts: list[str]  # decoded responses


@dataclass
class Scores:
    raw: torch.Tensor  # (B,) the reward model's scores
    step_raw: torch.Tensor  # (world * B,) every process's raw scores, the same on each
    scores: torch.Tensor  # (B,) scaled, clipped, EOS-penalised: what the reward adds
    held_out: torch.Tensor | None  # (B,) the held-out reward model's, when there is one


def ppo_train(cfg: PPOConfig, models: PPOModels, prompts: list[str], accelerator, optimizer, *,
              state: PPOState | None = None, on_step: StepCallback | None = None,
              on_checkpoint: Callable[[PPOState], None] | None = None) -> PPOState:
    """Runs PPO steps from `state.step` to `cfg.steps`. `on_step(step, metrics, batch)` gets the
    metrics of each step and its rollouts [{prompt, response, score, kl, held_out_score}], and
    returns True to stop (cancel); under `accelerate launch` it is called on the main process only,
    with the metrics of all processes and its own rollouts, and its stop holds for all of them.
    `on_checkpoint(state)` is called every `cfg.save_every` steps, on every process.
    `models.policy` / `value_model` and `optimizer` must already be prepared by `accelerator`."""
    if cfg.reward_max_length is None:
        raise ValueError("reward_max_length is None: ppo_run sets it from the reward model before training.")
    device = accelerator.device
    state = state or PPOState(kl_coef=cfg.init_kl_coef)
    kl_ctl = make_kl_controller(cfg, state.kl_coef)
    rng = random.Random(cfg.seed)
    # Each process (under `accelerate launch`) samples its own prompts with its own stream.
    rank, world = accelerator.process_index, accelerator.num_processes
    generator = torch.Generator(device=device).manual_seed(cfg.seed + state.step + 100_003 * rank)
    torch.manual_seed(cfg.seed + state.step)
    if not state.prompt_order:
        state.prompt_order = rng.sample(range(len(prompts)), len(prompts))
    models.tokenizer.padding_side, models.tokenizer.truncation_side = "left", "left"
    decoder = None  # the sampler's default: the model's own dynamic cache
    if cfg.compile_decode:
        decoder = StaticDecoder(cfg.max_prompt_tokens + cfg.max_new_tokens, compile=device.type == "cuda")
    t_start, episodes = time.perf_counter(), 0

    while state.step < cfg.steps:
        t_step = time.perf_counter()
        first = (state.step * world + rank) * cfg.batch_size
        batch_prompts = [prompts[state.prompt_order[(first + i) % len(prompts)]] for i in range(cfg.batch_size)]
        timer = PhaseTimer(device)  # time/<phase>_s, synchronised at phase boundaries only
        # 1. rollout: the sampler's log-probabilities are the "old" ones of the PPO ratio.
        with timer.phase("time/rollout_s"):
            ro = rollout_phase(cfg, models, batch_prompts, accelerator, generator, decoder)
        # 2. score: the reward model reads the conversation as text, in its own tokenizer.
        with timer.phase("time/score_s"):
            sc = score_phase(cfg, models, state, ro, accelerator)
        # 3. KL to the frozen reference per token (B, R), and the value model's values (B, R).
        with timer.phase("time/ref_value_s"):
            kl, values = reference_and_value_phase(cfg, models, ro, accelerator)
        # 4.-5. per-token rewards, GAE, whitened advantages (B, R) each.
        beta = kl_ctl.value
        with timer.phase("time/advantages_s"):
            non_score_reward, advantages, returns = advantages_phase(cfg, ro, sc.scores, kl, values, beta, accelerator)
        # 6. PPO epochs over shuffled mini-batches.
        with timer.phase("time/update_s"):
            stats = update_phase(cfg, models, ro, values, advantages, returns, accelerator, optimizer, generator)

        # 7. beta follows the observed KL (sum over tokens, mean over the whole step's episodes).
        kl_per_seq = kl.sum(1)  # (B,)
        step_kl = accelerator.gather(kl_per_seq)  # (world * B,) the same on every process
        mean_kl = step_kl.mean().item()
        kl_ctl.update(mean_kl, cfg.batch_size * world)
        state.kl_coef = kl_ctl.value
        state.step += 1

        # 8. log: per-episode figures gathered from all processes, PPO-epoch averages averaged over them
        episodes += cfg.batch_size * world
        now = time.perf_counter()
        metrics = step_metrics(ro, sc, non_score_reward, stats, mean_kl, beta, accelerator)
        metrics["episodes_per_second"] = episodes / (now - t_start)
        metrics["time/step_s"] = now - t_step
        metrics.update(timer.seconds)  # this process's; the step's 7-8 (beta, logging) are the rest of time/step_s
        batch = step_rollouts(ro, sc, kl_per_seq)
        stop = stop_together(accelerator, lambda: on_step and on_step(state.step, metrics, batch))
        if on_checkpoint and (stop or state.step == cfg.steps or (cfg.save_every and state.step % cfg.save_every == 0)):
            on_checkpoint(state)
        if stop:
            break
    return state


def rollout_phase(cfg: PPOConfig, models: PPOModels, prompts: list[str], accelerator, generator,
                  decoder: StaticDecoder | None = None) -> Rollouts:
    """Phase 1: encodes the prompts (left-padded, left-truncated) and samples one response to each
    (on `decoder`'s static cache when given)."""
    tok, device = models.tokenizer, accelerator.device
    enc = tok(prompts, return_tensors="pt", padding=True, truncation=True, max_length=cfg.max_prompt_tokens,
              add_special_tokens=False)
    query, query_mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)  # (B, P)
    with torch.no_grad(), accelerator.autocast():
        models.policy.eval()
        responses, logprobs, all_logprobs = sample_responses(
            accelerator.unwrap_model(models.policy), query, query_mask, max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature, top_p=cfg.top_p, eos_id=tok.eos_token_id,
            pad_id=tok.pad_token_id, generator=generator, keep_distributions=cfg.kl_penalty == "full",
            sync_every=cfg.sync_every, decoder=decoder,
        )  # (B, R), (B, R), (B, R, V) or None
    mask, lengths, has_eos = response_mask_and_lengths(responses, tok.eos_token_id)  # (B, R), (B,), (B,)
    texts = tok.batch_decode(responses * mask + tok.pad_token_id * ~mask, skip_special_tokens=True)
    return Rollouts(prompts, query, query_mask, responses, logprobs, all_logprobs, mask, mask.float(), lengths,
                    has_eos, texts)


def score_phase(cfg: PPOConfig, models: PPOModels, state: PPOState, ro: Rollouts, accelerator) -> Scores:
    """Phase 2: the reward model (and the held-out one) score each conversation as text, rendered,
    encoded and read exactly as rewardmodel/ trained them; then score scaling, clipping and the
    missing-EOS penalty."""
    device = accelerator.device
    with torch.no_grad(), accelerator.autocast():
        raw = score_responses(models.reward_model, models.reward_tokenizer, ro.prompts, ro.texts,
                              max_length=cfg.reward_max_length).to(device)  # (B,)
        held_out = None
        if models.held_out_model is not None:
            held_out = score_responses(models.held_out_model, models.held_out_tokenizer, ro.prompts, ro.texts,
                                       max_length=cfg.reward_max_length).to(device)  # (B,)
        step_raw = accelerator.gather(raw)  # (world * B,) the same on every process
        scores = _scale_scores(cfg, state, raw, step_scores=step_raw)
        if cfg.missing_eos_penalty is not None:
            scores = scores - cfg.missing_eos_penalty * (~ro.has_eos).float()
    return Scores(raw, step_raw, scores, held_out)


def reference_and_value_phase(cfg: PPOConfig, models: PPOModels, ro: Rollouts, accelerator):
    """Phase 3: the frozen reference's log-probabilities of the sampled tokens, the per-token KL
    estimate (B, R), and the value model's values (B, R), both zero past each response's end."""
    with torch.no_grad(), accelerator.autocast():
        ref_logits = response_logits(models.ref_policy, ro.query, ro.query_mask, ro.responses, ro.mask).float()
        ref_all = (ref_logits / cfg.temperature).log_softmax(-1)  # (B, R, V)
        ref_logprobs = ref_all.gather(-1, ro.responses[..., None]).squeeze(-1)  # (B, R)
        kl = kl_per_token(ro.logprobs, ref_logprobs, cfg.kl_penalty,
                          all_logprobs=ro.all_logprobs, all_ref_logprobs=ref_all) * ro.maskf  # (B, R)
        del ref_logits, ref_all
        ro.all_logprobs = None  # (B, R, V): no longer needed
        values = response_values(models.value_model, ro.query, ro.query_mask, ro.responses, ro.mask) * ro.maskf
    return kl, values


def advantages_phase(cfg: PPOConfig, ro: Rollouts, scores, kl, values, beta: float, accelerator):
    """Phases 4-5: per-token rewards (-beta * KL everywhere, the score on each response's last
    token), then GAE and whitened advantages. Returns (non_score_reward, advantages, returns), (B, R)."""
    with torch.no_grad(), accelerator.autocast():
        non_score_reward = -beta * kl
        rewards = non_score_reward.clone()
        rows = torch.arange(rewards.shape[0], device=rewards.device)
        rewards[rows, ro.lengths - 1] += scores
        if cfg.whiten_rewards:
            rewards = masked_whiten(rewards, ro.maskf, shift_mean=False) * ro.maskf
        advantages, returns = gae(rewards, values, ro.maskf, cfg.gamma, cfg.lam)
        advantages = masked_whiten(advantages, ro.maskf) * ro.maskf
    return non_score_reward, advantages, returns


UPDATE_STATS = ("pg_loss", "vf_loss", "clipfrac", "vf_clipfrac", "approxkl", "entropy", "ratio")


def update_phase(cfg: PPOConfig, models: PPOModels, ro: Rollouts, values, advantages, returns, accelerator,
                 optimizer, generator) -> dict[str, list[float]]:
    """Phase 6: `ppo_epochs` passes over shuffled mini-batches, each one gradient step on the
    clipped policy loss + vf_coef x the clipped value loss. Returns each of UPDATE_STATS per mini-batch.
    The statistics stay on the device until the last mini-batch: one transfer per step, not one
    host synchronisation per statistic and mini-batch."""
    policy, value_model = models.policy, models.value_model
    policy.train()
    value_model.train()
    stats = []  # one (len(UPDATE_STATS),) tensor per mini-batch
    for _epoch in range(cfg.ppo_epochs):
        order = torch.randperm(cfg.batch_size, generator=generator, device=accelerator.device)
        for start in range(0, cfg.batch_size, cfg.mini_batch_size):
            idx = order[start:start + cfg.mini_batch_size]
            mb_mask = ro.maskf[idx]  # (b, R)
            with accelerator.autocast():
                logits = response_logits(policy, ro.query[idx], ro.query_mask[idx], ro.responses[idx], ro.mask[idx])
                all_new = (logits.float() / cfg.temperature).log_softmax(-1)  # (b, R, V)
                new_logprobs = all_new.gather(-1, ro.responses[idx][..., None]).squeeze(-1)  # (b, R)
                vpred = response_values(value_model, ro.query[idx], ro.query_mask[idx], ro.responses[idx], ro.mask[idx])
            # clipped value loss
            vpred_clipped = values[idx] + (vpred - values[idx]).clamp(-cfg.cliprange_value, cfg.cliprange_value)
            vf_losses1 = (vpred - returns[idx]) ** 2
            vf_losses2 = (vpred_clipped - returns[idx]) ** 2
            vf_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), mb_mask)
            # clipped policy loss
            log_ratio = (new_logprobs - ro.logprobs[idx]) * mb_mask
            ratio = log_ratio.exp()
            pg_losses1 = -advantages[idx] * ratio
            pg_losses2 = -advantages[idx] * ratio.clamp(1 - cfg.cliprange, 1 + cfg.cliprange)
            pg_loss = masked_mean(torch.max(pg_losses1, pg_losses2), mb_mask)
            loss = pg_loss + cfg.vf_coef * vf_loss
            accelerator.backward(loss)
            if cfg.max_grad_norm is not None:
                accelerator.clip_grad_norm_(list(policy.parameters()) + list(value_model.parameters()), cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                entropy = -(all_new.exp() * all_new).sum(-1)  # (b, R)
                stats.append(torch.stack([  # in the order of UPDATE_STATS
                    pg_loss, vf_loss, masked_mean((pg_losses2 > pg_losses1).float(), mb_mask),
                    masked_mean((vf_losses2 > vf_losses1).float(), mb_mask), 0.5 * masked_mean(log_ratio ** 2, mb_mask),
                    masked_mean(entropy, mb_mask), masked_mean(ratio, mb_mask),
                ]).float())
    per_mini_batch = torch.stack(stats).T.tolist()  # (len(UPDATE_STATS), mini-batches): the one transfer
    return dict(zip(UPDATE_STATS, per_mini_batch))


def step_metrics(ro: Rollouts, sc: Scores, non_score_reward, stats: dict[str, list[float]], mean_kl: float,
                 beta: float, accelerator) -> dict:
    """Phase 8: the step's metrics, named as in TRL: per-episode figures gathered from all
    processes, PPO-epoch averages averaged over them."""
    episode_stats = accelerator.gather(torch.stack([
        (-ro.logprobs * ro.maskf).sum(1), non_score_reward.sum(1), sc.scores + non_score_reward.sum(1),
        ro.has_eos.float(), ro.lengths.float(), *([sc.held_out] if sc.held_out is not None else []),
    ]).T)  # (world * B, 5 or 6)
    epoch_means = dict(zip(stats, accelerator.reduce(
        torch.tensor([_mean(v) for v in stats.values()], device=accelerator.device), reduction="mean").tolist()))
    metrics = {
        "objective/scores": sc.step_raw.mean().item(),
        "objective/scores_std": sc.step_raw.std().item() if len(sc.step_raw) > 1 else 0.0,
        "objective/kl": mean_kl,
        "objective/kl_coef": beta,
        "objective/entropy": episode_stats[:, 0].mean().item(),
        "objective/non_score_reward": episode_stats[:, 1].mean().item(),
        "objective/rlhf_reward": episode_stats[:, 2].mean().item(),
        "policy/entropy": epoch_means["entropy"],
        "policy/clipfrac": epoch_means["clipfrac"],
        "policy/approxkl": epoch_means["approxkl"],
        "policy/ratio": epoch_means["ratio"],
        "loss/policy": epoch_means["pg_loss"],
        "loss/value": epoch_means["vf_loss"],
        "val/clipfrac": epoch_means["vf_clipfrac"],
        "val/num_eos_tokens": int(episode_stats[:, 3].sum().item()),
        "val/response_length": episode_stats[:, 4].mean().item(),
    }
    if sc.held_out is not None:
        metrics["objective/held_out_scores"] = episode_stats[:, 5].mean().item()
    return metrics


def step_rollouts(ro: Rollouts, sc: Scores, kl_per_seq: torch.Tensor) -> list[dict]:
    """The step's rollouts as `on_step` gets them: [{prompt, response, score, kl, held_out_score}]."""
    held_out = (sc.held_out if sc.held_out is not None else sc.raw).tolist()
    return [{"prompt": p, "response": r, "score": s, "kl": k, "held_out_score": None if sc.held_out is None else h}
            for p, r, s, k, h in zip(ro.prompts, ro.texts, sc.raw.tolist(), kl_per_seq.tolist(), held_out)]


def _scale_scores(cfg: PPOConfig, state: PPOState, scores: torch.Tensor, *, step_scores: torch.Tensor) -> torch.Tensor:
    """Optional running-std scaling and clipping of scores (classic TRL use_score_scaling /
    score_clip). The running moments take `step_scores`, the step's scores over all processes (in
    the same order on each), so that they are the same everywhere; they live in `state` so that a
    resumed run continues them."""
    if cfg.score_scaling:
        for x in step_scores.tolist():  # Welford's update
            state.score_count += 1
            delta = x - state.score_mean
            state.score_mean += delta / state.score_count
            state.score_m2 += delta * (x - state.score_mean)
        std = math.sqrt(state.score_m2 / max(state.score_count - 1, 1)) or 1.0
        scores = scores / std
    if cfg.score_clip is not None:
        scores = scores.clamp(-cfg.score_clip, cfg.score_clip)
    return scores


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0
