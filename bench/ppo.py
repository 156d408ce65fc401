"""Benchmark: Arbiter's PPO beside TRL 1.12's PPOTrainer, same models and data, one invocation.

Configuration (the peer's, from the anchors' trl_ppo_bench.py): policy GPT-2 2 layers x 128,
random init; reward model GPT-2 2 x 128 sequence classifier; value model 2 x 128 (TRL: a separate
random classifier; Arbiter: the policy backbone with a token head, its chosen design); byte-level
BPE of 8,000 tokens trained on the HH sample; prompts = first human turn, last 64 tokens; 32-token
responses; batch 16, 1 mini-batch, 4 PPO epochs; 2 threads; fp32 on the CPU.

Both sides run in their own subprocess, alternating, so each peak RSS is its own process's.
Timing covers the training loop only (model construction excluded on both sides).

  .venv/bin/python bench/ppo.py --anchors ../shared/anchors --peer-python /tmp/peer/bin/python \
      --trl-path /tmp/trl112 [--steps 16] [--rounds 2] [--baseline-src DIR] [--config JSON]
(defaults read ARBITER_ANCHORS_DIR, ARBITER_PEER_PYTHON and ARBITER_TRL_PATH.)

Arbiter's side also prints where a step's time goes (PPO's `time/*_s` metrics, seconds per step:
rollout, scoring, reference + value passes, advantages, update; TRL's script reports no such
breakdown). `--baseline-src DIR` adds a third side: Arbiter's worker from another source tree
(e.g. `git archive <commit> | tar -x -C DIR`), in the same rounds, for a before/after comparison.
`--config` adds PPOConfig fields to Arbiter's side (e.g. '{"sync_every": 1}').
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


PHASES = ("rollout", "score", "ref_value", "advantages", "update")


def arbiter_worker(anchors: str, steps: int, options: dict) -> None:
    """Runs Arbiter's PPO on the peer's configuration and prints one RESULT line."""
    sys.path.insert(0, anchors)
    sys.path.insert(0, str(ROOT))
    import anchor_common as A  # pins threads before torch is imported
    import trl_ppo_bench as T

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    from training.ppo import PPOConfig, ppo_train
    from common.ml.precision import make_accelerator
    from training.runner import load_ppo_models, make_optimizer

    hf_logging.set_verbosity_error()
    A.setup_threads(2)
    tok = A.get_tokenizer()
    rows = A.load_pairs()
    prompts = [T.first_human_turn(r["chosen"]) for r in rows[: steps * A.BATCH]]
    torch.manual_seed(A.SEED)
    pcfg = GPT2Config(
        vocab_size=len(tok), n_positions=T.PROMPT_MAX + T.RESP_LEN, n_embd=128, n_layer=2, n_head=4,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    policy = GPT2LMHeadModel(pcfg)
    reward = A.build_reward_model(tok, n_layer=2, n_embd=128, n_head=4, max_len=T.PROMPT_MAX + T.RESP_LEN, seed=A.SEED + 1)
    tmp = Path(tempfile.mkdtemp(prefix="arbiter_ppo_bench_"))
    policy.save_pretrained(tmp / "sft")
    tok.save_pretrained(tmp / "sft")
    reward.save_pretrained(tmp / "rm")
    tok.save_pretrained(tmp / "rm")
    # The peer's options where they differ from ours: its kl_coef 0.05 (fixed), lr 3e-6, no EOS
    # penalty, no gradient clipping.
    cfg = PPOConfig(
        steps=steps, batch_size=A.BATCH, mini_batch_size=A.BATCH, ppo_epochs=4, learning_rate=3e-6,
        init_kl_coef=0.05, adap_kl_ctrl=False, kl_penalty="kl", temperature=0.7, top_p=1.0,
        max_new_tokens=T.RESP_LEN, max_prompt_tokens=T.PROMPT_MAX, reward_max_length=T.PROMPT_MAX + T.RESP_LEN,
        missing_eos_penalty=None, max_grad_norm=None, seed=A.SEED, save_every=0, **options,
    )
    accelerator = make_accelerator(cfg.mixed_precision)
    models = load_ppo_models(sft_path=tmp / "sft", reward_path=tmp / "rm", device=accelerator.device)
    optimizer = make_optimizer(cfg, models)
    models.policy, models.value_model, optimizer = accelerator.prepare(models.policy, models.value_model, optimizer)
    last, phase_s = {}, dict.fromkeys(PHASES, 0.0)

    def keep(step, metrics, batch):
        last.update(metrics)
        for name in PHASES:
            phase_s[name] += metrics[f"time/{name}_s"] / steps
        return False

    with A.Timer() as t:
        ppo_train(cfg, models, prompts, accelerator, optimizer, on_step=keep)
    episodes = steps * A.BATCH
    A.report(
        "arbiter_ppo", steps=steps, episodes=episodes, train_s=round(t.dt, 2), cpu_s=round(t.cpu, 1),
        load1=round(t.load1, 2), episodes_per_s=round(episodes / t.dt, 2), peak_rss_mib=round(A.peak_rss_mib(), 1),
        last_kl=last.get("objective/kl"), last_score=last.get("objective/scores"),
        phase_s_per_step={k: round(v, 4) for k, v in phase_s.items()},
    )


def run(cmd: list[str], env: dict) -> dict:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anchors", default=os.environ.get("ARBITER_ANCHORS_DIR", str(ROOT.parent / "shared" / "anchors")))
    parser.add_argument("--peer-python", default=os.environ.get("ARBITER_PEER_PYTHON", "/tmp/peer/bin/python"))
    parser.add_argument("--trl-path", default=os.environ.get("ARBITER_TRL_PATH", "/tmp/trl112"))
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each side")
    parser.add_argument("--baseline-src", help="another source tree whose Arbiter worker runs as a third side")
    parser.add_argument("--config", default="{}", help="PPOConfig fields (JSON) for Arbiter's side")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return arbiter_worker(args.anchors, args.steps, json.loads(args.config))

    anchors = str(Path(args.anchors).resolve())
    base_env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
    trl_cmd = [args.peer_python, os.path.join(anchors, "trl_ppo_bench.py"), "--steps", str(args.steps)]
    ours_cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--anchors", anchors, "--steps", str(args.steps),
                "--config", args.config]
    sides = [("trl", trl_cmd, {**base_env, "PYTHONPATH": args.trl_path}), ("arbiter", ours_cmd, base_env)]
    if args.baseline_src:  # its worker may predate --config
        sides.append(("baseline", [sys.executable, str(Path(args.baseline_src, "bench", "ppo.py").resolve()), "--worker",
                                   "--anchors", anchors, "--steps", str(args.steps)], base_env))
    results = {name: [] for name, _, _ in sides}
    for i in range(args.rounds):
        for name, cmd, env in sides:
            r = run(cmd, env)
            results[name].append(r)
            phases = "  ".join(f"{k} {v:.3f}" for k, v in r.get("phase_s_per_step", {}).items())
            print(f"round {i + 1} {name:8s} {r['episodes_per_s']:6.2f} episodes/s  peak RSS {r['peak_rss_mib']:7.1f} MiB"
                  f"  train {r['train_s']:6.2f} s  CPU {r['cpu_s']:6.1f} s  load1 {r['load1']:.2f}"
                  + (f"  s/step: {phases}" if phases else ""), flush=True)
    for v in results.values():
        for r in v:  # less sensitive than wall time to other processes on a shared machine
            r["episodes_per_cpu_s"] = r["episodes"] / r["cpu_s"]
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("episodes_per_s", "episodes_per_cpu_s", "peak_rss_mib")}
           for k, v in results.items()}
    phase_med = {k: {p: statistics.median(r["phase_s_per_step"][p] for r in v) for p in PHASES}
                 for k, v in results.items() if all("phase_s_per_step" in r for r in v)}
    print_phase_table(phase_med, {k: statistics.median(r["train_s"] / r["steps"] for r in v) for k, v in results.items()})
    summary = {
        "steps": args.steps, "rounds": args.rounds, "trl_version": results["trl"][0].get("trl"),
        "trl": med["trl"], "arbiter": med["arbiter"],
        "speed_ratio": round(med["arbiter"]["episodes_per_s"] / med["trl"]["episodes_per_s"], 2),
        "cpu_speed_ratio": round(med["arbiter"]["episodes_per_cpu_s"] / med["trl"]["episodes_per_cpu_s"], 2),
        "memory_ratio": round(med["arbiter"]["peak_rss_mib"] / med["trl"]["peak_rss_mib"], 2),
        "arbiter_phase_s_per_step": {p: round(v, 4) for p, v in phase_med.get("arbiter", {}).items()},
        "load1_now": round(os.getloadavg()[0], 2),
    }
    if "baseline" in med:
        summary["baseline"] = med["baseline"]
        summary["arbiter_over_baseline"] = round(med["arbiter"]["episodes_per_s"] / med["baseline"]["episodes_per_s"], 2)
        summary["arbiter_over_baseline_cpu"] = round(
            med["arbiter"]["episodes_per_cpu_s"] / med["baseline"]["episodes_per_cpu_s"], 2)
    print("SUMMARY " + json.dumps(summary))


def print_phase_table(phase_med: dict, side_step_s: dict) -> None:
    """Seconds per step by phase (medians over rounds), as shares of the side's median step."""
    for side, phases in phase_med.items():
        step_s = side_step_s[side]
        print(f"\n{side}: where a step's {step_s:.3f} s go (median over rounds)")
        print("| phase | s/step | share |\n|---|---:|---:|")
        for name, seconds in phases.items():
            print(f"| {name} | {seconds:.3f} | {seconds / step_s:.0%} |")
        rest = step_s - sum(phases.values())
        print(f"| rest (beta, logging, prompts) | {rest:.3f} | {rest / step_s:.0%} |")


if __name__ == "__main__":
    main()
