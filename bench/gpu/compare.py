"""One measurement per process: Arbiter's reward-model trainer or PPO beside TRL's, on a GPU in
bf16 (or on the CPU in fp32, for checking the set-up), printing one `RESULT {json}` line.

  python bench/gpu/compare.py rm  --impl arbiter|trl [--arch gpt2|llama] [--layers 12 --embd 768 --heads 12]
                                  [--max-len 512] [--n-train 800] [--batch 16] [--arbiter-config JSON]
  python bench/gpu/compare.py ppo --impl arbiter|trl [--layers 2 --embd 128 --heads 4] [--steps 16]
                                  [--batch 16] [--resp 32] [--arbiter-config JSON]

`--impl trl` needs TRL on the path: 1.16 (RewardTrainer) for `rm`, 1.12 (the last with PPO) for
`ppo`; `bench/gpu/run.sh` sets that up and runs the whole comparison. `--arbiter-config` is merged
into Arbiter's RewardTrainConfig / PPOConfig (e.g. '{"packing": true}'); an option this Arbiter
does not have is an error, printed as a RESULT line with "error".

Both sides get the same work: the HH sample in data/demo/ (chosen/rejected ids with EOS, cut from
the left to --max-len; PPO prompts = the first human turn, last 64 tokens), a byte-level BPE of
8,000 tokens trained on it (cached in --cache-dir), and random-init models of the given shape
without dropout (as the anchors' gpu_check.py; TRL's PPO gets its own random value model, Arbiter
builds its value model from the policy). Timing covers training only, with the device
synchronised; peak memory is torch.cuda.max_memory_allocated on a GPU, the process's peak RSS on
a CPU. The reward model also reports real tokens per second (the tokens its forward passes held,
padding excluded; Arbiter computes a pair's shared prompt once) and model-FLOPs utilisation.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import traceback
from dataclasses import fields
from pathlib import Path

from workload import PROMPT_TOKENS, ROOT, SEED, Device, bench_tokenizer, encode_pairs, first_turn, load_rows, \
    reward_backbone

sys.path.insert(0, str(ROOT))
from common.ml.flops import H200_BF16_PEAK_TFLOPS  # noqa: E402  (no torch import: threads are set in main)

PHASES = ("time/rollout_s", "time/score_s", "time/ref_value_s", "time/advantages_s", "time/update_s", "time/step_s")
"""PPO's per-phase step metrics, summed over the steps (null where Arbiter does not log one)."""


def sig(x: float) -> float:
    """`x` to 5 significant digits: a RESULT figure."""
    return float(f"{x:.5g}")


def check_options(config_cls, overrides: dict) -> None:
    """Refuses an --arbiter-config option that `config_cls` does not have, before any work."""
    unknown = sorted(set(overrides) - {f.name for f in fields(config_cls)})
    if unknown:
        raise ValueError(f"this Arbiter's {config_cls.__name__} has no option {', '.join(unknown)}")


def merged(config_cls, base: dict, overrides: dict):
    check_options(config_cls, overrides)
    return config_cls(**{**base, **overrides})


# -- reward model ------------------------------------------------------------------------------------

def rm_arbiter(args, dev, tok, model, train_ids) -> dict:
    from common.ml.precision import make_accelerator
    from rewardmodel.batching import EncodedPair
    from rewardmodel.config import RewardTrainConfig
    from rewardmodel.trainer import train

    cfg = merged(RewardTrainConfig, dict(
        max_length=args.max_len, batch_size=args.batch, learning_rate=1e-4, num_train_epochs=1, seed=SEED,
        mixed_precision="auto", checkpoint_steps=0, logging_steps=1), args.arbiter_config)
    accelerator = make_accelerator("bf16" if dev.cuda else "no")
    pairs = [EncodedPair(chosen_ids=c, rejected_ids=r) for c, r in train_ids]
    model.to(accelerator.device)  # before the clock, as TRL's Trainer does in its constructor
    t0 = dev.now()
    result = train(cfg, model=model, pad_token_id=tok.pad_token_id, train_pairs=pairs, eval_pairs=[],
                   accelerator=accelerator)
    seconds = dev.now() - t0
    if len(result.history) != result.steps:
        raise ValueError("the token count needs every step logged: leave logging_steps at 1")
    return {"train_s": seconds, "steps": result.steps, "losses": [h["loss"] for h in result.history],
            # the tokens its forward passes held, padding excluded (a shared prompt counted once)
            "real_tokens": sum(h["num_tokens"] for h in result.history)}


def rm_trl(args, dev, tok, model, train_ids) -> dict:
    import trl
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    ds = Dataset.from_dict({"chosen_ids": [c for c, _ in train_ids], "rejected_ids": [r for _, r in train_ids]})
    cfg = RewardConfig(
        output_dir=tempfile.mkdtemp(prefix="trl_rm_"), per_device_train_batch_size=args.batch, num_train_epochs=1,
        learning_rate=1e-4, max_length=args.max_len, seed=SEED, bf16=dev.cuda, use_cpu=not dev.cuda,
        gradient_checkpointing=False, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
        dataloader_num_workers=0)
    trainer = RewardTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok)
    if len(trainer.train_dataset) != len(train_ids):
        raise RuntimeError(f"TRL kept {len(trainer.train_dataset)} of {len(train_ids)} pairs")
    t0 = dev.now()
    trainer.train()
    seconds = dev.now() - t0
    return {"train_s": seconds, "steps": trainer.state.global_step, "trl": trl.__version__,
            "real_tokens": sum(len(c) + len(r) for c, r in train_ids),  # each side its own row
            "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h]}


def heldout_accuracy(dev, model, eval_ids, pad_id) -> float:
    """Share of held-out pairs whose chosen side scores higher, for either side's trained model
    (Arbiter's scorer: the reward at each sequence's last real token, as the HF head reads it)."""
    import torch

    from rewardmodel.batching import EncodedPair
    from rewardmodel.trainer import score_pairs

    pairs = [EncodedPair(chosen_ids=c, rejected_ids=r) for c, r in eval_ids]
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.cuda):
        r_w, r_l = score_pairs(model.to(dev.type), pairs, pad_token_id=pad_id)
    return sum(w > l for w, l in zip(r_w, r_l)) / len(pairs)


def rm(args, dev) -> dict:
    from rewardmodel.config import RewardTrainConfig

    check_options(RewardTrainConfig, args.arbiter_config)
    tok = bench_tokenizer(args.cache_dir)
    rows = load_rows()
    train_ids = encode_pairs(tok, rows[:args.n_train], args.max_len)
    eval_ids = encode_pairs(tok, rows[-args.n_eval:], args.max_len)
    model = reward_backbone(args, tok, positions=args.max_len, seed=SEED)
    from common.ml.flops import model_flops_utilisation, model_parameters

    n_params = model_parameters(model)
    dev.reset_peak()
    out = (rm_arbiter if args.impl == "arbiter" else rm_trl)(args, dev, tok, model, train_ids)
    peak = dev.peak_gib()
    losses, seconds, real_tokens = out.pop("losses"), out.pop("train_s"), out.pop("real_tokens")
    return {
        "params_non_embedding": n_params, "pairs": len(train_ids), "train_s": sig(seconds),
        "pairs_per_s": sig(len(train_ids) / seconds), "real_tokens": real_tokens,
        "pair_tokens": sum(len(c) + len(r) for c, r in train_ids),  # chosen + rejected, the same for both sides
        "real_tokens_per_s": sig(real_tokens / seconds),
        "mfu": sig(model_flops_utilisation(n_params, real_tokens, seconds, args.peak_tflops)),
        "peak_tflops": args.peak_tflops, "peak_mem_gib": peak,
        "final_loss": round(statistics.fmean(losses[-8:]), 4) if losses else None,
        "heldout_acc": round(heldout_accuracy(dev, model, eval_ids, tok.pad_token_id), 4), **out,
    }


# -- PPO -----------------------------------------------------------------------------------------------

def ppo_arbiter(args, dev, tok, policy, reward, prompts) -> dict:
    from common.ml.precision import make_accelerator
    from training.ppo import PPOConfig, ppo_train
    from training.runner import load_ppo_models, make_optimizer

    cfg = merged(PPOConfig, dict(
        steps=args.steps, batch_size=args.batch, mini_batch_size=args.batch, ppo_epochs=4, learning_rate=3e-6,
        init_kl_coef=0.05, adap_kl_ctrl=False, kl_penalty="kl", temperature=0.7, top_p=1.0,
        max_new_tokens=args.resp, max_prompt_tokens=PROMPT_TOKENS, reward_max_length=PROMPT_TOKENS + args.resp,
        missing_eos_penalty=None, max_grad_norm=None, seed=SEED, save_every=0,
        mixed_precision="bf16" if dev.cuda else "no"), args.arbiter_config)  # the peer's options (TRL 1.12 defaults)
    folder = Path(tempfile.mkdtemp(prefix="arbiter_ppo_"))
    for name, model in (("sft", policy), ("rm", reward)):
        model.save_pretrained(folder / name)
        tok.save_pretrained(folder / name)
    accelerator = make_accelerator(cfg.mixed_precision)
    models = load_ppo_models(sft_path=folder / "sft", reward_path=folder / "rm", device=accelerator.device)
    shutil.rmtree(folder)  # a GPT-2 12x768 pair is 1 GB of disk
    optimizer = make_optimizer(cfg, models)
    models.policy, models.value_model, optimizer = accelerator.prepare(models.policy, models.value_model, optimizer)
    steps = []

    def keep(step, metrics, batch):
        steps.append(metrics)
        return False

    t0 = dev.now()
    ppo_train(cfg, models, prompts, accelerator, optimizer, on_step=keep)
    seconds = dev.now() - t0
    phases = {k: sig(sum(m[k] for m in steps)) if all(k in m for m in steps) else None for k in PHASES}
    return {"train_s": seconds, "last": steps[-1] if steps else {}, **phases}


def ppo_trl(args, dev, tok, policy, reward, prompts) -> dict:
    import trl
    from datasets import Dataset
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    tok.padding_side = "left"
    ids = [x[-PROMPT_TOKENS:] for x in tok(prompts, add_special_tokens=False)["input_ids"]]
    value = reward_backbone(args, tok, positions=PROMPT_TOKENS + args.resp, seed=SEED + 2)
    cfg = PPOConfig(
        output_dir=tempfile.mkdtemp(prefix="trl_ppo_"), per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=1, num_mini_batches=1, total_episodes=len(ids), response_length=args.resp,
        local_rollout_forward_batch_size=args.batch, num_sample_generations=0, bf16=dev.cuda, use_cpu=not dev.cuda,
        gradient_checkpointing=False, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
        seed=SEED)
    trainer = PPOTrainer(args=cfg, processing_class=tok, model=policy, ref_model=None, reward_model=reward,
                         value_model=value, train_dataset=Dataset.from_dict({"input_ids": ids}),
                         eval_dataset=Dataset.from_dict({"input_ids": ids[-args.batch:]}))
    t0 = dev.now()
    trainer.train()
    seconds = dev.now() - t0
    logs = [h for h in trainer.state.log_history if "objective/kl" in h]
    return {"train_s": seconds, "last": logs[-1] if logs else {}, "trl": trl.__version__}


def ppo(args, dev) -> dict:
    from common.ml.tiny import tiny_causal_lm
    from training.ppo import PPOConfig

    if args.arch != "gpt2":
        raise ValueError("ppo measures GPT-2 shapes only")
    check_options(PPOConfig, args.arbiter_config)
    tok = bench_tokenizer(args.cache_dir)
    episodes = args.steps * args.batch
    prompts = [first_turn(r["chosen"]) for r in load_rows()[:episodes]]
    positions = PROMPT_TOKENS + args.resp
    policy = tiny_causal_lm(tok, seed=SEED, n_layer=args.layers, n_embd=args.embd, n_head=args.heads, n_positions=positions)
    reward = reward_backbone(args, tok, positions=positions, seed=SEED + 1)
    dev.reset_peak()
    out = (ppo_arbiter if args.impl == "arbiter" else ppo_trl)(args, dev, tok, policy, reward, prompts)
    last, seconds = out.pop("last"), out.pop("train_s")
    return {"episodes": episodes, "train_s": sig(seconds), "episodes_per_s": sig(episodes / seconds),
            "peak_mem_gib": dev.peak_gib(), "last_kl": last.get("objective/kl"),
            "last_score": last.get("objective/scores"), **out}


# -- the command line ----------------------------------------------------------------------------------

def shape_of(args) -> str:
    """The key that summarise.py groups runs by: the same work, whatever the implementation."""
    if args.what == "rm":
        return f"rm {args.arch} {args.layers}x{args.embd} len {args.max_len} batch {args.batch} pairs {args.n_train}"
    return f"ppo {args.arch} {args.layers}x{args.embd} batch {args.batch} resp {args.resp} steps {args.steps}"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["rm", "ppo"])
    ap.add_argument("--impl", choices=["arbiter", "trl"], required=True)
    ap.add_argument("--arch", choices=["gpt2", "llama"], default="gpt2")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--max-len", type=int, default=512, help="rm: tokens per sequence")
    ap.add_argument("--n-train", type=int, default=800, help="rm: training pairs")
    ap.add_argument("--n-eval", type=int, default=200, help="rm: held-out pairs (the file's last)")
    ap.add_argument("--batch", type=int, default=16, help="rm: pairs per step; ppo: rollouts per step")
    ap.add_argument("--steps", type=int, default=16, help="ppo: PPO steps")
    ap.add_argument("--resp", type=int, default=32, help="ppo: response tokens")
    ap.add_argument("--arbiter-config", type=json.loads, default={}, help="JSON merged into Arbiter's config")
    ap.add_argument("--peak-tflops", type=float, default=H200_BF16_PEAK_TFLOPS, help="the device's peak, for model-FLOPs utilisation")
    ap.add_argument("--threads", type=int, default=8, help="torch CPU threads")
    ap.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "arbiter-gpu-bench")
    args = ap.parse_args(argv)
    if args.impl == "trl" and args.arbiter_config:
        ap.error("--arbiter-config applies to --impl arbiter only")
    return args


def main(argv=None):
    args = parse_args(argv)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before torch is imported
        os.environ[name] = str(args.threads)
    os.environ.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                      TRL_EXPERIMENTAL_SILENCE="1")
    head = {"what": args.what, "shape": shape_of(args), "impl": args.impl,
            "arbiter_config": args.arbiter_config if args.impl == "arbiter" else None}
    try:
        import torch
        import transformers
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        torch.backends.cuda.matmul.allow_tf32 = True
        args.cache_dir.mkdir(parents=True, exist_ok=True)
        dev = Device()
        body = (rm if args.what == "rm" else ppo)(args, dev)
    except Exception as exc:  # a failed run is a row of the summary, with its reason
        traceback.print_exc()
        print("RESULT " + json.dumps({**head, "error": f"{type(exc).__name__}: {exc}"[:400]}), flush=True)
        return 1
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    print("RESULT " + json.dumps({**head, "device": dev.name, "peak_mem_is": dev.memory, **body, **versions}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
