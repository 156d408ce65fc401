"""Benchmark: Arbiter's KTO beside TRL 1.16's KTOTrainer, same model, data and settings, one invocation.

Configuration (the peer's, from the anchors' trl_kto_bench.py): the shared HH sample, 800 training
pairs made 1,600 unpaired completions (chosen = desirable, rejected = undesirable) shuffled once with
the seed, 200 held-out pairs; byte-level BPE of 8,000 tokens; GPT-2 LM 4 layers x 256, random init,
no dropout, the start model also the reference; batch 16 completions, lr 1e-4, beta 0.1, loss "kto"
with its KL estimate, both class weights 1.0; 1 epoch = 100 steps; fp32; 2 threads; each sequence
keeps its last 256 tokens (prompt cut from the left). Held-out accuracy is the anchor's own
`implicit_reward_acc` (trl_dpo_bench.py) on both sides.

Arbiter's side (training/kto.py): length-grouped batches, the prompt run once for a completion and
its KL completion, the reference log-probs precomputed in one pass (inside the timed part), AdamW
with the lr decaying linearly to 0 and clipping at 1.0, as TRL's defaults (but torch's weight decay
0.01, where TRL's AdamW has none). Each run is its own
process (so peak RSS is its own), the two alternate, and the medians are compared. Timing covers
training only (model construction excluded; Arbiter's includes loading the start folder, the
reference pass and saving the final folder).

  .venv/bin/python bench/kto.py --anchors ../shared/anchors --peer-python /tmp/peer/bin/python \
      [--rounds 2] [--max-steps N]
(defaults read ARBITER_ANCHORS_DIR and ARBITER_PEER_PYTHON; --max-steps N for a shorter probe.)
Over seeds (anchor_common.SEED on both sides: init, the unpairing shuffle, TRL's seed, Arbiter's batch
order), as bench/dpo.py: --seeds 1234,1,2 --log kto.jsonl [--only arbiter]; --summary-from kto.jsonl.
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


def arbiter_worker(anchors: str, max_steps: int, group_window: int, seed: int) -> None:
    """Runs Arbiter's KTO on the peer's configuration and prints one RESULT line."""
    sys.path.insert(0, anchors)
    sys.path.insert(0, str(ROOT))
    import anchor_common as A  # pins threads before torch is imported
    import random

    set_anchor_seed(A, seed)  # the policy's init, the unpairing shuffle and the batch order, as the peer's

    import trl_dpo_bench as D
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from rewardmodel.batching import EncodedPair
    from training.kto import KTOConfig, kto_train
    from training.kto_data import UnpairedExample, kl_partners

    hf_logging.set_verbosity_error()
    A.setup_threads(2)
    tok = A.get_tokenizer()
    rows = A.load_pairs()
    train, _ = D.split_pairs(rows[: A.N_TRAIN])
    evl, _ = D.split_pairs(rows[-A.N_EVAL:])
    # The anchor's unpaired rows in the anchor's order; the prompt's index stands for its id.
    unpaired = [(k, p, x, lab) for k, (p, c, r) in enumerate(train) for x, lab in ((c, True), (r, False))]
    random.Random(A.SEED).shuffle(unpaired)
    examples = [UnpairedExample(messages=[], completion=x, desirable=lab, prompt_id=k, source_id=i)
                for i, (k, _, x, lab) in enumerate(unpaired)]
    partners = kl_partners(examples)
    encoded = []
    for (_, prompt, completion, desirable), j in zip(unpaired, partners):
        # As the anchor's collator: completion + EOS, the prompt cut from the left to keep the last 256 tokens.
        sides = [D.keep_end(tok, prompt, text) for text in (completion, unpaired[j][2])]
        encoded.append(EncodedPair(chosen_ids=sides[0][0], rejected_ids=sides[1][0],
                                   meta={"prompt_len": tuple(len(ids) - n for ids, n in sides), "desirable": desirable}))
    steps = len(encoded) // A.BATCH if max_steps <= 0 else max_steps
    encoded = encoded[: steps * A.BATCH]  # a probe trains on the rows TRL's sequential sampler would reach
    start = Path(tempfile.mkdtemp(prefix="arbiter_kto_bench_"))
    D.build_policy(tok).save_pretrained(start / "start")
    tok.save_pretrained(start / "start")
    cfg = KTOConfig(steps=steps, batch_size=A.BATCH, learning_rate=A.LR, warmup_steps=0, lr_schedule="linear",
                    beta=D.BETA, desirable_weight=1.0, undesirable_weight=1.0, precompute_ref=True, max_length=A.MAX_LEN,
                    max_response_tokens=A.MAX_LEN - 1, length_group_window=group_window, save_every=0, seed=A.SEED,
                    mixed_precision="no")
    history = []

    with A.Timer() as t:
        summary = kto_train(cfg, start_path=start / "start", train_rows=encoded, eval_pairs=[], out_dir=start / "out",
                            on_step=lambda step, metrics: history.append(metrics) and False)

    policy = AutoModelForCausalLM.from_pretrained(summary["model_path"])
    reference = AutoModelForCausalLM.from_pretrained(start / "start")
    acc, len_base = D.implicit_reward_acc(policy, reference, tok, evl)
    n_used = steps * A.BATCH
    A.report(
        "arbiter_kto", seed=A.SEED, group_window=cfg.length_group_window, steps=steps, completions_used=n_used, train_s=round(t.dt, 2), cpu_s=round(t.cpu, 1),
        load1=round(t.load1, 2), completions_per_s=round(n_used / t.dt, 2), peak_rss_mib=round(A.peak_rss_mib(), 1),
        mean_train_loss=round(statistics.mean(h["loss"] for h in history), 4),
        last8_loss=round(statistics.mean(h["loss"] for h in history[-8:]), 4), final_kl=history[-1]["kl"],
        heldout_acc=round(acc, 4), heldout_shorter_wins_acc=round(len_base, 4),
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
    parser.add_argument("--max-steps", type=int, default=0, help="probe: stop both after N steps (0: 1 epoch)")
    parser.add_argument("--rounds", type=int, help="alternating runs of each side per seed (default 2; 1 with --seeds)")
    parser.add_argument("--seed", type=int, default=1234,
                        help="anchor_common.SEED on both sides: the policy's init, the unpairing shuffle, the trainer's seed")
    parser.add_argument("--seeds", help="several seeds, one after another (e.g. 1234,1,2): per-seed rows, then mean "
                                        "and sd of held-out accuracy per side and of the paired difference")
    parser.add_argument("--log", help="append every run's RESULT (with side, seed, variant) to this JSON-lines file")
    parser.add_argument("--summary-from", metavar="LOG", help="print the seed summary of a --log file; runs nothing")
    parser.add_argument("--group-window", type=int, default=8,
                        help="Arbiter's length_group_window (batches sorted by length together; 1: random batches)")
    parser.add_argument("--only", choices=["trl", "arbiter"], help="run one side only (a probe, no ratios)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return arbiter_worker(args.anchors, args.max_steps, args.group_window, args.seed)
    if args.summary_from:
        return print_summaries(summarise(read_log(args.summary_from), rate="completions_used"))

    anchors = str(Path(args.anchors).resolve())
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "TOKENIZERS_PARALLELISM": "false",
           "N_TRAIN": "800", "N_EVAL": "200"}
    steps = ["--max-steps", str(args.max_steps)] if args.max_steps > 0 else []
    seeds = parse_seeds(args.seeds) if args.seeds else [args.seed]
    rounds = args.rounds or (1 if args.seeds else 2)
    variant = {"trl": {"max_steps": args.max_steps},
               "arbiter": {"max_steps": args.max_steps, "group_window": args.group_window}}
    names = [name for name in ("trl", "arbiter") if args.only in (None, name)]
    results = {name: [] for name in names}
    for seed in seeds:
        commands = {
            "trl": peer_command(args.peer_python, anchors, os.path.join(anchors, "trl_kto_bench.py"), seed, steps),
            "arbiter": [sys.executable, str(Path(__file__).resolve()), "--worker", "--anchors", anchors, "--seed", str(seed),
                        "--group-window", str(args.group_window), *steps],
        }
        for i in range(rounds):
            for name in names:
                r = {**run(commands[name], env), "side": name, "seed": seed, "variant": variant[name]}
                r["pairs_per_s"] = r["completions_per_s"] / 2  # two completions make one pair
                r["completions_per_cpu_s"] = r["completions_used"] / r["cpu_s"]
                results[name].append(r)
                log_rows(args.log, [r])
                print(f"seed {seed} round {i + 1} {name:8s} {r['completions_per_s']:6.2f} completions/s"
                      f" ({r['pairs_per_s']:5.2f} pairs/s)  peak RSS {r['peak_rss_mib']:7.1f} MiB  train"
                      f" {r['train_s']:7.2f} s  CPU {r['cpu_s']:7.1f} s  held-out acc {r['heldout_acc']:.4f}"
                      f"  load1 {r['load1']:.2f}", flush=True)
    metrics = ("completions_per_s", "pairs_per_s", "completions_per_cpu_s", "cpu_s", "peak_rss_mib", "heldout_acc")
    med = {k: {m: statistics.median(r[m] for r in v) for m in metrics} for k, v in results.items()}
    summary = {"max_steps": args.max_steps or None, "rounds": rounds, "seeds": seeds, "group_window": args.group_window,
               **med, "load1_now": round(os.getloadavg()[0], 2)}
    if len(med) == 2:
        summary.update(
            trl_version=results["trl"][0].get("trl"),
            speed_ratio=round(med["arbiter"]["completions_per_s"] / med["trl"]["completions_per_s"], 2),
            cpu_speed_ratio=round(med["arbiter"]["completions_per_cpu_s"] / med["trl"]["completions_per_cpu_s"], 2),
            memory_ratio=round(med["arbiter"]["peak_rss_mib"] / med["trl"]["peak_rss_mib"], 2),
            accuracy_difference=round(med["arbiter"]["heldout_acc"] - med["trl"]["heldout_acc"], 4),
        )
    print("SUMMARY " + json.dumps(summary))
    if len(seeds) > 1:
        print_summaries(summarise([r for v in results.values() for r in v], rate="completions_used"))


if __name__ == "__main__":
    main()
