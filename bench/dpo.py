"""Benchmark: Arbiter's DPO beside TRL 1.16's DPOTrainer, same model, data and settings, one invocation.

Configuration (the peer's, from the anchors' trl_dpo_bench.py): the shared 1,000 HH pairs, the
first 800 to train and the last 200 held out (N_TRAIN=800 N_EVAL=200); prompt = the dialogue up to
the last "\\n\\nAssistant:", chosen/rejected = the two final assistant turns, each followed by EOS;
every sequence keeps its last 256 tokens (the prompt is cut from the left); the shared byte-level
BPE of 8,000 tokens; policy GPT-2 LM 4 layers x 256, random init (seed 1234), no dropout; the
reference is the same initial model; batch 16 pairs, lr 1e-4, beta 0.1, sigmoid loss, 1 epoch =
50 steps, fp32, 2 threads. Both decay the learning rate linearly to 0 over the 50 steps (no
warm-up here) with AdamW without weight decay (Arbiter's defaults since 2026-12-01; before, a
constant rate with weight decay 0.01: `--constant-schedule`). Arbiter runs its own defaults
otherwise: chosen and rejected share the prompt's forward pass, length-grouped batches, and the
reference log-probs precomputed in one pass (the reference is then freed); `--live-ref` keeps a
frozen reference beside the policy instead, as TRL does. The token budget per micro-batch is
8,192 (2 x pairs x longest side), so most batches are one forward pass.

Held-out implicit-reward accuracy is computed for both sides by the anchor's own function
(`trl_dpo_bench.implicit_reward_acc`: beta * (log pi - log ref) summed over the completion with
EOS, strictly higher for chosen), on the 200 held-out pairs.

Both sides run in their own subprocess, alternating, so each peak RSS is its own process's.
Timing: TRL's `trainer.train()`; Arbiter's whole `dpo_train` call (loading the start folder, the
reference pass, training, and saving the final folder included).

  .venv/bin/python bench/dpo.py --anchors ../shared/anchors --peer-python /tmp/peer/bin/python [--rounds 2]
(defaults read ARBITER_ANCHORS_DIR and ARBITER_PEER_PYTHON; --max-steps N for a short probe.)

Over seeds (anchor_common.SEED set on both sides: the policy's init, TRL's seed, Arbiter's batch order;
bench/anchor_seeds.py): per-seed rows, then each side's mean and sd of held-out accuracy and the paired
difference. Runs split over several invocations are summed up from their --log file:
  .venv/bin/python bench/dpo.py --seeds 1234,1,2 --log dpo.jsonl [--only arbiter] [--group-window 1]
  .venv/bin/python bench/dpo.py --summary-from dpo.jsonl
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from anchor_seeds import log_rows, parse_seeds, peer_command, print_summaries, read_log, set_anchor_seed, summarise  # noqa: E402


def _anchor_pairs(A, T, tok, triples):
    """EncodedPairs built exactly as the anchor tokenises (T.keep_end): (prompt + completion + EOS)[-256:],
    the completion's tokens learnt, the prompt's not."""
    from rewardmodel.batching import EncodedPair

    out = []
    for p, c, r in triples:
        (c_ids, c_n), (r_ids, r_n) = T.keep_end(tok, p, c), T.keep_end(tok, p, r)
        out.append(EncodedPair(chosen_ids=c_ids, rejected_ids=r_ids,
                               meta={"prompt_len": (len(c_ids) - c_n, len(r_ids) - r_n)}))
    return out


def arbiter_worker(anchors: str, max_steps: int, live_ref: bool, group_window: int, constant_schedule: bool,
                   seed: int) -> None:
    """Runs Arbiter's DPO on the peer's configuration and prints one RESULT line."""
    sys.path.insert(0, anchors)
    sys.path.insert(0, str(ROOT))
    import anchor_common as A  # pins threads before torch is imported

    set_anchor_seed(A, seed)  # the policy's init and the batch order, as the peer's
    import trl_dpo_bench as T

    from transformers import GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    from training.dpo import DPOConfig, dpo_train

    hf_logging.set_verbosity_error()
    A.setup_threads(2)
    tok = A.get_tokenizer()
    rows = A.load_pairs()
    assert A.N_TRAIN + A.N_EVAL <= len(rows), "train and held-out pairs overlap: set N_TRAIN=800 N_EVAL=200"
    train, n_diff = T.split_pairs(rows[: A.N_TRAIN])
    evl, _ = T.split_pairs(rows[-A.N_EVAL:])
    train_pairs = _anchor_pairs(A, T, tok, train)
    steps = len(train_pairs) // A.BATCH  # one epoch
    if max_steps > 0:
        steps = min(steps, max_steps)
    tmp = Path(tempfile.mkdtemp(prefix="arbiter_dpo_bench_"))
    start = T.build_policy(tok)
    start.save_pretrained(tmp / "start")
    tok.save_pretrained(tmp / "start")
    del start
    schedule = {"lr_schedule": "constant", "weight_decay": 0.01} if constant_schedule else {}
    cfg = DPOConfig(steps=steps, batch_size=A.BATCH, learning_rate=A.LR, warmup_steps=0, beta=T.BETA, **schedule,
                    loss_type="sigmoid", precompute_ref=not live_ref, max_length=A.MAX_LEN,
                    max_response_tokens=A.MAX_LEN - 1, max_tokens_per_micro_batch=8192, length_group_window=group_window, save_every=0, seed=A.SEED, mixed_precision="no")
    losses = []

    def keep(step, metrics):
        losses.append(metrics["loss"])
        return False

    with A.Timer() as t:
        summary = dpo_train(cfg, start_path=tmp / "start", train_pairs=train_pairs, eval_pairs=[], out_dir=tmp / "run",
                            on_step=keep)
    policy = GPT2LMHeadModel.from_pretrained(summary["model_path"])
    reference = T.build_policy(tok).requires_grad_(False).eval()  # the same seed: the start model
    acc, len_base = T.implicit_reward_acc(policy, reference, tok, evl)
    n_used = steps * A.BATCH
    A.report(
        "arbiter_dpo", seed=A.SEED, precompute_ref=cfg.precompute_ref, lr_schedule=cfg.lr_schedule, weight_decay=cfg.weight_decay,
        group_window=cfg.length_group_window, shared_prompt=summary["shared_prompt_prefix"],
        pairs_used=n_used, pairs_prompt_differs=n_diff, steps=steps, train_s=round(t.dt, 2), cpu_s=round(t.cpu, 1),
        load1=round(t.load1, 2), pairs_per_s=round(n_used / t.dt, 2), peak_rss_mib=round(A.peak_rss_mib(), 1),
        mean_train_loss=round(sum(losses) / len(losses), 4), final_loss=round(losses[-1], 4),
        heldout_acc=round(acc, 4), heldout_shorter_wins_acc=round(len_base, 4),
    )


def run(cmd: list[str], env: dict, cwd: str) -> dict:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anchors", default=os.environ.get("ARBITER_ANCHORS_DIR", str(ROOT.parent / "shared" / "anchors")))
    parser.add_argument("--peer-python", default=os.environ.get("ARBITER_PEER_PYTHON", "/tmp/peer/bin/python"))
    parser.add_argument("--rounds", type=int, help="alternating runs of each side per seed (default 2; 1 with --seeds)")
    parser.add_argument("--seed", type=int, default=1234,
                        help="anchor_common.SEED on both sides: the policy's init, the trainer's seed, batch order")
    parser.add_argument("--seeds", help="several seeds, one after another (e.g. 1234,1,2): per-seed rows, then mean "
                                        "and sd of held-out accuracy per side and of the paired difference")
    parser.add_argument("--log", help="append every run's RESULT (with side, seed, variant) to this JSON-lines file")
    parser.add_argument("--summary-from", metavar="LOG", help="print the seed summary of a --log file; runs nothing")
    parser.add_argument("--max-steps", type=int, default=-1, help="probe only: stop both after N steps")
    parser.add_argument("--live-ref", action="store_true", help="Arbiter keeps a frozen reference instead of precomputing")
    parser.add_argument("--group-window", type=int, default=8,
                        help="Arbiter's length_group_window (batches sorted by length together; 1: random batches)")
    parser.add_argument("--constant-schedule", action="store_true",
                        help="Arbiter's defaults before 2026-12-01: a constant learning rate, AdamW weight decay 0.01")
    parser.add_argument("--only", choices=["trl", "arbiter"], help="run one side only (a probe, no ratios)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return arbiter_worker(args.anchors, args.max_steps, args.live_ref, args.group_window, args.constant_schedule,
                              args.seed)
    if args.summary_from:
        return print_summaries(summarise(read_log(args.summary_from), rate="pairs_used"))

    anchors = str(Path(args.anchors).resolve())
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false",
           "N_TRAIN": "800", "N_EVAL": "200"}
    seeds = parse_seeds(args.seeds) if args.seeds else [args.seed]
    rounds = args.rounds or (1 if args.seeds else 2)
    variant = {"trl": {"max_steps": args.max_steps},
               "arbiter": {"max_steps": args.max_steps, "group_window": args.group_window,
                           "constant_schedule": args.constant_schedule, "live_ref": args.live_ref}}
    names = [name for name in ("trl", "arbiter") if args.only in (None, name)]
    results = {name: [] for name in names}
    for seed in seeds:
        commands = {
            "trl": peer_command(args.peer_python, anchors, os.path.join(anchors, "trl_dpo_bench.py"), seed,
                                ["--max-steps", str(args.max_steps)]),
            "arbiter": [sys.executable, str(Path(__file__).resolve()), "--worker", "--anchors", anchors, "--seed", str(seed),
                        "--max-steps", str(args.max_steps), "--group-window", str(args.group_window)]
                       + (["--live-ref"] if args.live_ref else []) + (["--constant-schedule"] if args.constant_schedule else []),
        }
        for i in range(rounds):
            for name in names:
                r = {**run(commands[name], env, cwd=anchors), "side": name, "seed": seed, "variant": variant[name]}
                r["pairs_per_cpu_s"] = r["pairs_used"] / r["cpu_s"]  # less sensitive than wall time to other processes
                results[name].append(r)
                log_rows(args.log, [r])
                print(f"seed {seed} round {i + 1} {name:8s} {r['pairs_per_s']:6.2f} pairs/s  peak RSS"
                      f" {r['peak_rss_mib']:7.1f} MiB  train {r['train_s']:7.1f} s  CPU {r['cpu_s']:6.1f} s  load1"
                      f" {r['load1']:.2f}  held-out acc {r['heldout_acc']:.3f}  mean loss {r['mean_train_loss']:.4f}",
                      flush=True)
    metrics = ("pairs_per_s", "pairs_per_cpu_s", "peak_rss_mib", "heldout_acc")
    med = {k: {m: statistics.median(r[m] for r in v) for m in metrics} for k, v in results.items()}
    summary = {"rounds": rounds, "seeds": seeds, "max_steps": args.max_steps, "live_ref": args.live_ref,
               "group_window": args.group_window, "constant_schedule": args.constant_schedule, **med,
               "load1_now": round(os.getloadavg()[0], 2)}
    if len(med) == 2:
        summary["trl_version"] = results["trl"][0].get("trl")
        summary["speed_ratio"] = round(med["arbiter"]["pairs_per_s"] / med["trl"]["pairs_per_s"], 2)
        summary["cpu_speed_ratio"] = round(med["arbiter"]["pairs_per_cpu_s"] / med["trl"]["pairs_per_cpu_s"], 2)
        summary["memory_ratio"] = round(med["arbiter"]["peak_rss_mib"] / med["trl"]["peak_rss_mib"], 2)
        summary["accuracy_difference"] = round(med["arbiter"]["heldout_acc"] - med["trl"]["heldout_acc"], 4)
    print("SUMMARY " + json.dumps(summary))
    if len(seeds) > 1:
        print_summaries(summarise([r for v in results.values() for r in v], rate="pairs_used"))


if __name__ == "__main__":
    main()
