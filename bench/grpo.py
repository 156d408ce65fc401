"""Benchmark: Arbiter's GRPO beside TRL 1.16's GRPOTrainer, same model, task and options, one invocation.

Configuration (the peer's, from the anchors' trl_grpo_bench.py; read the anchors README's GRPO section):
prompts "a+b=" with a, b in 0..9 drawn with the seed; reward 1.0 when the completion starts, after
spaces, with a+b; policy GPT-2 2 layers x 128, random init, no dropout, the shared 8,000-token BPE
(or --vocab digits: 15 symbols); 16 prompts x 8 generations = 128 completions a step of at most 16
new tokens, temperature 1, one optimizer step per batch (num_iterations 1), lr 1e-4, beta 0 (no
reference model), gradient clipping at 1.0, fp32, 2 threads, on the CPU.
Differences that remain: TRL's default loss "dapo" (token sum over the whole batch's tokens) against
Arbiter's "grpo" (per-sequence token mean; both scale the advantages by the group's std); TRL's
reward is a Python function, Arbiter's the same test as a per-task regex reference
("<a+b>(?!\\d).*" after stripping the leading spaces). Arbiter's timing includes loading the
policy from disk inside `grpo_train` (the modules it imports are imported before the clock starts,
as the peer's are); TRL's covers `trainer.train()`.

Each side runs in its own subprocess, alternating, so each peak RSS is its own process's.

  .venv/bin/python bench/grpo.py [--anchors ../shared/anchors] [--peer-python /tmp/peer/bin/python] \
      [--steps 16] [--rounds 2] [--vocab bpe|digits]
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPTS_PER_STEP, NUM_GEN, COMPLETION_LEN = 16, 8, 16


def arbiter_worker(anchors: str, steps: int, vocab: str) -> None:
    """Runs Arbiter's GRPO on the peer's configuration and prints one RESULT line."""
    sys.path.insert(0, anchors)
    sys.path.insert(0, str(ROOT))
    import anchor_common as A  # pins threads before torch is imported

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    from training.grpo import GRPOConfig, grpo_train
    from training.rewards.spec import parse_reward_spec
    from training.rewards.tasks import Task

    hf_logging.set_verbosity_error()
    A.setup_threads(2)
    if vocab == "bpe":
        tok = A.get_tokenizer()
    else:
        from common.ml.tokenizers import char_tokenizer

        tok = char_tokenizer("0123456789+= ")  # the anchors' 15 symbols: EOS, PAD, digits, "+", "=", " "
    rng = random.Random(A.SEED)
    ab = [(rng.randrange(10), rng.randrange(10)) for _ in range(steps * PROMPTS_PER_STEP)]
    tasks = [Task(id=str(i), prompt=f"{a}+{b}=", reference=rf"{a + b}(?!\d)(?s:.*)", checker="regex", split="train")
             for i, (a, b) in enumerate(ab)]
    torch.manual_seed(A.SEED)
    policy = GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tok), n_positions=64, n_embd=128, n_layer=2, n_head=4, resid_pdrop=0.0, embd_pdrop=0.0,
        attn_pdrop=0.0, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    tmp = Path(tempfile.mkdtemp(prefix="arbiter_grpo_bench_"))
    policy.save_pretrained(tmp / "policy")
    tok.save_pretrained(tmp / "policy")
    cfg = GRPOConfig(steps=steps, prompts_per_step=PROMPTS_PER_STEP, num_generations=NUM_GEN, num_iterations=1,
                     learning_rate=1e-4, beta=0.0, loss_type="grpo", temperature=1.0, top_p=1.0,
                     max_new_tokens=COMPLETION_LEN, max_prompt_tokens=16, max_grad_norm=1.0, seed=A.SEED,
                     mixed_precision="no", eval_before=False)
    spec = parse_reward_spec([{"checker": "regex"}])
    # What grpo_train imports on first use, imported before the clock starts, as the peer's script
    # has imported TRL and transformers before it times `trainer.train()`.
    import accelerate  # noqa: F401
    from transformers import AutoModelForCausalLM  # noqa: F401

    import common.ml.loading  # noqa: F401
    import training.runner  # noqa: F401
    with A.Timer() as t:
        summary = grpo_train(cfg, tmp / "policy", tasks, spec, tmp / "out")
    rewards = [h["reward"] for h in summary["history"]]
    episodes = steps * PROMPTS_PER_STEP * NUM_GEN
    A.report(
        "arbiter_grpo", vocab=vocab, vocab_size=len(tok), steps=steps, episodes=episodes, train_s=round(t.dt, 2),
        cpu_s=round(t.cpu, 1), load1=round(t.load1, 2), episodes_per_s=round(episodes / t.dt, 2),
        peak_rss_mib=round(A.peak_rss_mib(), 1), reward_first_step=rewards[0], reward_last_step=rewards[-1],
        reward_first4_mean=round(sum(rewards[:4]) / len(rewards[:4]), 4),
        reward_last4_mean=round(sum(rewards[-4:]) / len(rewards[-4:]), 4),
        last_mean_completion_len=summary["history"][-1]["completions/mean_length"],
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
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each side")
    parser.add_argument("--vocab", choices=["bpe", "digits"], default="bpe")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return arbiter_worker(args.anchors, args.steps, args.vocab)

    anchors = str(Path(args.anchors).resolve())
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONPATH", None)
    trl_cmd = [args.peer_python, os.path.join(anchors, "trl_grpo_bench.py"), "--steps", str(args.steps),
               "--vocab", args.vocab]
    ours_cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--anchors", anchors, "--steps",
                str(args.steps), "--vocab", args.vocab]
    results = {"trl": [], "arbiter": []}
    for i in range(args.rounds):
        for name, cmd in (("trl", trl_cmd), ("arbiter", ours_cmd)):
            r = run(cmd, {**env, "PYTHONPATH": anchors} if name == "trl" else env)
            results[name].append(r)
            print(f"round {i + 1} {name:8s} {r['episodes_per_s']:7.2f} completions/s  peak RSS {r['peak_rss_mib']:7.1f} MiB"
                  f"  train {r['train_s']:6.2f} s  CPU {r['cpu_s']:6.1f} s  load1 {r['load1']:.2f}  reward first/last "
                  f"step {r['reward_first_step']:.4f}/{r['reward_last_step']:.4f}", flush=True)
    for v in results.values():
        for r in v:  # less sensitive than wall time to other processes on a shared machine
            r["episodes_per_cpu_s"] = r["episodes"] / r["cpu_s"]
    metrics = ("episodes_per_s", "episodes_per_cpu_s", "peak_rss_mib", "reward_first_step", "reward_last_step",
               "reward_first4_mean", "reward_last4_mean")
    med = {k: {m: statistics.median(r[m] for r in v) for m in metrics} for k, v in results.items()}
    summary = {
        "steps": args.steps, "rounds": args.rounds, "vocab": args.vocab, "trl_version": results["trl"][0].get("trl"),
        "trl": med["trl"], "arbiter": med["arbiter"],
        "speed_ratio": round(med["arbiter"]["episodes_per_s"] / med["trl"]["episodes_per_s"], 2),
        "cpu_speed_ratio": round(med["arbiter"]["episodes_per_cpu_s"] / med["trl"]["episodes_per_cpu_s"], 2),
        "memory_ratio": round(med["arbiter"]["peak_rss_mib"] / med["trl"]["peak_rss_mib"], 2),
        "load1_now": round(os.getloadavg()[0], 2),
    }
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
