"""Arbiter's reward-model trainer beside TRL's RewardTrainer, same backbone, same pairs, one run.

    python bench/reward_training.py --anchors ../shared/anchors --peer-python /tmp/peer/bin/python \
        [--repeats 2] [--n-train 800] [--n-eval 200] [--packing off|on|both] [--peak-tflops X]

Both sides use the anchors' shared set-up (anchor_common.py): the HH sample, a byte-level BPE
tokenizer of 8,000 tokens trained on it, ids truncated from the left to 256 tokens, a GPT-2
classifier of 4 layers x 256 built from a config, batch 16, lr 1e-4, 1 epoch, fp32, 2 threads.
TRL runs as `trl_reward_bench.py --mode tuned` in the peer environment (bench/setup_peers.sh);
Arbiter runs `rewardmodel.trainer.train` in this project's environment. Each run is its own
process (so peak RSS is per run), the sides alternate, and the medians are compared.
`--packing both` runs Arbiter twice per round, without and with sequence packing.

Each side also gets real (unpadded) tokens through the model per second and model-FLOPs
utilisation, 6 x non-embedding parameters x real tokens/s over a peak (common/ml/flops.py):
`--peak-tflops`, else 790 on CUDA (H200 bf16) and on the CPU this machine's fp32 matmul rate on
2 threads, measured by a torch.matmul probe before the runs (printed). Arbiter's real tokens are
what its trainer logs (the shared prompt once); TRL computes every pair's prompt twice, so its
real tokens are the pairs' chosen + rejected tokens. The padding share is 1 - real / computed
tokens (Arbiter's; TRL's collator pads each batch to its longest sequence).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def arbiter_worker(args):
    """One Arbiter training run inside this process; prints a RESULT line like the anchors do."""
    sys.path.insert(0, str(Path(args.anchors).resolve()))
    sys.path.insert(0, str(ROOT))
    import anchor_common as A  # sets the thread env vars before torch is imported

    A.setup_threads(2)
    from transformers.utils import logging as hf_logging

    from rewardmodel.batching import EncodedPair
    from common.ml.flops import model_parameters
    from common.ml.precision import make_accelerator
    from rewardmodel.trainer import RewardTrainConfig, train

    hf_logging.set_verbosity_error()
    tok = A.get_tokenizer()
    train_ids, eval_ids, n_over = A.train_eval_split(tok)
    model = A.build_reward_model(tok)
    pairs = [EncodedPair(chosen_ids=c, rejected_ids=r) for c, r in train_ids]
    cfg = RewardTrainConfig(
        max_length=A.MAX_LEN, batch_size=A.BATCH, learning_rate=A.LR, num_train_epochs=1, seed=A.SEED,
        mixed_precision="no", num_threads=2, checkpoint_steps=0, fuse_gelu=not args.no_fused_gelu,
        max_tokens_per_micro_batch=args.max_tokens, packing=args.worker_packing,
        packing_row_tokens=args.packing_row_tokens if args.worker_packing else 0,
    )
    accelerator = make_accelerator("no")
    with A.Timer() as t:
        result = train(cfg, model=model, pad_token_id=tok.pad_token_id, train_pairs=pairs, eval_pairs=[], accelerator=accelerator)
    losses = [h["loss"] for h in result.history]
    real = sum(h["num_tokens"] for h in result.history)  # logging_steps=1: every step is in the history
    computed = sum(h["num_padded_tokens"] for h in result.history)
    acc = A.pairwise_accuracy(model, eval_ids, tok.pad_token_id)
    A.report(
        "arbiter_reward",
        packing=cfg.packing,
        packing_row_tokens=cfg.packing_row_tokens,
        fused_gelu=cfg.fuse_gelu,
        max_tokens_per_micro_batch=cfg.max_tokens_per_micro_batch,
        pairs_used=len(pairs),
        pairs_over_max_len=n_over,
        steps=result.steps,
        train_s=round(t.dt, 2),
        cpu_s=round(t.cpu, 1),
        load1=round(t.load1, 2),
        pairs_per_s=round(len(pairs) / t.dt, 2),
        peak_rss_mib=round(A.peak_rss_mib(), 1),
        mean_train_loss=round(sum(losses) / len(losses), 4),
        final_logged_loss=round(sum(losses[-8:]) / len(losses[-8:]), 4),
        heldout_acc=round(acc, 4),
        n_params=model_parameters(model),
        real_tokens=real,
        computed_tokens=computed,
        pair_tokens=sum(len(p.chosen_ids) + len(p.rejected_ids) for p in pairs),
    )


def run_one(cmd, env, cwd):
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed (rc {out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def peak_tflops(args) -> tuple[float, str]:
    """The peak MFU is put against, and where it comes from."""
    if args.peak_tflops:
        return args.peak_tflops, "given (--peak-tflops)"
    import torch

    from common.ml.flops import H200_BF16_PEAK_TFLOPS, matmul_tflops

    if torch.cuda.is_available():
        return H200_BF16_PEAK_TFLOPS, "H200 bf16 matmul (the issue's figure)"
    torch.set_num_threads(2)
    return matmul_tflops(size=1024, repeats=20), "this CPU's fp32 1024x1024 torch.matmul rate on 2 threads, measured now"


def add_token_figures(results: dict, peak: float) -> None:
    """Real tokens/s, padding share and MFU on every run (TRL's tokens: the pairs' own, see the docstring)."""
    from common.ml.flops import model_flops_utilisation

    arbiter_runs = [r for name, runs in results.items() if name != "trl" for r in runs]
    if not arbiter_runs:
        return
    n_params, pair_tokens = arbiter_runs[0]["n_params"], arbiter_runs[0]["pair_tokens"]
    for name, runs in results.items():
        for r in runs:
            real = pair_tokens if name == "trl" else r["real_tokens"]
            r["real_tokens_per_s"] = round(real / r["train_s"], 1)
            r["mfu_pct"] = round(100 * model_flops_utilisation(n_params, real, r["train_s"], peak), 2)
            if name != "trl":
                r["padding_pct"] = round(100 * (1 - r["real_tokens"] / r["computed_tokens"]), 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anchors", default=os.environ.get("ARBITER_ANCHORS", str(ROOT.parent / "shared" / "anchors")))
    ap.add_argument("--peer-python", default=os.environ.get("ARBITER_PEER_PYTHON", "/tmp/peer/bin/python"))
    ap.add_argument("--repeats", type=int, default=2, help="runs of each, alternating")
    ap.add_argument("--n-train", type=int, default=800)
    ap.add_argument("--n-eval", type=int, default=200)
    ap.add_argument("--hh-file", default=str(ROOT / "data" / "demo" / "hh-harmless-1000.jsonl.gz"))
    ap.add_argument("--max-tokens", type=int, default=8192, help="Arbiter's token budget per micro-batch")
    ap.add_argument("--no-fused-gelu", action="store_true", help="keep GPT-2's Python GELU (ablation)")
    ap.add_argument("--packing", choices=["off", "on", "both"], default="off",
                    help="Arbiter with sequence packing off, on, or both (two Arbiter runs per round)")
    ap.add_argument("--packing-row-tokens", type=int, default=0, help="row length when packing (0: the longest sequence)")
    ap.add_argument("--peak-tflops", type=float, default=0.0,
                    help="peak for MFU in TFLOP/s (default: 790 on CUDA, else a measured CPU matmul rate)")
    ap.add_argument("--only", choices=["arbiter", "trl"], help="run one side only")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker-packing", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    env = {**os.environ, "N_TRAIN": str(args.n_train), "N_EVAL": str(args.n_eval), "HH_FILE": args.hh_file}
    if args.worker:
        os.environ.update(env)
        return arbiter_worker(args)

    anchors = Path(args.anchors).resolve()
    if not (anchors / "anchor_common.py").is_file():
        raise SystemExit(f"{anchors} does not hold anchor_common.py; pass --anchors PATH")
    arbiter_cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--anchors", str(anchors),
                   "--max-tokens", str(args.max_tokens), "--n-train", str(args.n_train), "--n-eval", str(args.n_eval),
                   "--hh-file", args.hh_file, "--packing-row-tokens", str(args.packing_row_tokens)] + (["--no-fused-gelu"] if args.no_fused_gelu else [])
    sides = {}
    if args.only != "trl":
        if args.packing in ("off", "both"):
            sides["arbiter"] = arbiter_cmd
        if args.packing in ("on", "both"):
            sides["arbiter_packed"] = arbiter_cmd + ["--worker-packing"]
    if args.only != "arbiter":
        sides["trl"] = [args.peer_python, str(anchors / "trl_reward_bench.py"), "--mode", "tuned"]
    peak, peak_source = peak_tflops(args)
    print(f"peak for MFU: {peak:.4g} TFLOP/s ({peak_source})", flush=True)
    run_env = {**env, "PYTHONPATH": str(ROOT)}
    results = {name: [] for name in sides}
    for i in range(args.repeats):
        for name, cmd in sides.items():
            t0 = time.time()
            r = run_one(cmd, run_env, str(anchors if name == "trl" else ROOT))
            results[name].append(r)
            print(f"run {i + 1} {name}: {r['pairs_per_s']} pairs/s, cpu {r['cpu_s']} s, peak {r['peak_rss_mib']} MiB, "
                  f"acc {r['heldout_acc']}, load1 {r['load1']} ({time.time() - t0:.0f} s)", flush=True)
    add_token_figures(results, peak)

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    keys = ("pairs_per_s", "cpu_s", "peak_rss_mib", "heldout_acc", "load1", "real_tokens_per_s", "mfu_pct", "padding_pct")
    summary = {name: {k: med(name, k) for k in keys if k in results[name][0]} for name in results}
    summary["peak_tflops"] = {"value": round(peak, 4), "source": peak_source}
    ratios = {}
    for name in results:
        if name != "trl" and "trl" in results:
            ratios[f"{name}/trl"] = {
                "pairs_per_s": round(med(name, "pairs_per_s") / med("trl", "pairs_per_s"), 2),
                "cpu_s": round(med(name, "cpu_s") / med("trl", "cpu_s"), 2),
                "peak_rss": round(med(name, "peak_rss_mib") / med("trl", "peak_rss_mib"), 2),
                "heldout_acc_diff": round(med(name, "heldout_acc") - med("trl", "heldout_acc"), 4),
            }
    if "arbiter" in results and "arbiter_packed" in results:
        ratios["arbiter_packed/arbiter"] = {
            "pairs_per_s": round(med("arbiter_packed", "pairs_per_s") / med("arbiter", "pairs_per_s"), 2),
            "cpu_s": round(med("arbiter_packed", "cpu_s") / med("arbiter", "cpu_s"), 2),
            "peak_rss": round(med("arbiter_packed", "peak_rss_mib") / med("arbiter", "peak_rss_mib"), 2),
        }
    summary["ratios"] = ratios
    for name, figures in summary.items():
        if name in results:
            print(f"median {name}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    for name, figures in ratios.items():
        print(f"ratio {name}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    summary["runs"] = results
    summary["load_avg_end"] = os.getloadavg()
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
