"""Benchmark: PPO's sampler alone (training/rollout.py::sample_responses), by sync_every and decoder.

The PPO rollout phase at the anchors' shape (bench/ppo.py): GPT-2 2 layers x 128, vocabulary 8,000,
random init, batch 16, 64-token left-padded prompts, 32 new tokens, temperature 0.7. Each variant
samples `--rollouts` batches, variants interleaved round by round; prints the median seconds per
rollout of each, its ratio to the per-token check on the dynamic cache, and the columns sampled.
`--eos-logit X` sets EOS's logit to about X at every position (6: p(EOS) about 0.4 at temperature 0.7) (so batches end early and
sync_every's extra forwards show); 0 leaves the random model as it is (responses rarely end).

  .venv/bin/python bench/ppo_sampler.py [--rollouts 20] [--rounds 3] [--eos-logit 0] [--device cpu|cuda]
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--eos-logit", type=float, default=0.0)
    parser.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sync-every", default="1,4,8,16", help="comma-separated values to compare")
    args = parser.parse_args()

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from training.rollout import StaticDecoder, sample_responses

    torch.set_num_threads(args.threads)
    device = torch.device(args.device if args.device != "cuda" or torch.cuda.is_available() else "cpu")
    B, P, R, V, eos = 16, 64, 32, 8000, 0
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=V, n_positions=P + R, n_embd=128, n_layer=2, n_head=4,
                                       resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)).to(device).eval()
    if args.eos_logit:
        with torch.no_grad():  # LM head tied to the embedding: a constant e_0 from ln_f makes logit_v = wte[v, 0]
            model.transformer.ln_f.weight[0] = 0.0
            model.transformer.ln_f.bias[0] = 1.0
            model.transformer.wte.weight[eos, 0] = args.eos_logit
    query = torch.randint(1, V, (B, P), generator=torch.Generator().manual_seed(1)).to(device)
    mask = torch.ones_like(query)
    mask[: B // 2, : P // 4] = 0  # half the rows left-padded by a quarter

    variants = [(f"dynamic sync_every={k}", int(k), None) for k in args.sync_every.split(",")]
    variants.append(("static sync_every=8", 8, StaticDecoder(P + R)))
    for _, sync_every, decoder in variants:  # warm-up: first-call costs (allocations, the static cache) untimed
        sample_responses(model, query, mask, max_new_tokens=R, temperature=0.7, top_p=1.0, eos_id=eos, pad_id=eos,
                         generator=torch.Generator(device=device).manual_seed(0), sync_every=sync_every, decoder=decoder)
    seconds = {name: [] for name, _, _ in variants}
    columns = {}
    for _ in range(args.rounds):
        for name, sync_every, decoder in variants:
            generator = torch.Generator(device=device).manual_seed(0)
            start, cols = time.perf_counter(), 0
            for _ in range(args.rollouts):
                responses, _, _ = sample_responses(model, query, mask, max_new_tokens=R, temperature=0.7, top_p=1.0,
                                                   eos_id=eos, pad_id=eos, generator=generator, sync_every=sync_every,
                                                   decoder=decoder)
                cols += responses.shape[1]
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[name].append((time.perf_counter() - start) / args.rollouts)
            columns[name] = cols / args.rollouts
    base = statistics.median(seconds[variants[0][0]])
    for name, _, _ in variants:
        med = statistics.median(seconds[name])
        print(f"{name:24s} {med * 1000:8.1f} ms/rollout  {base / med:5.2f}x  {columns[name]:5.1f} columns", flush=True)
    print("SUMMARY " + json.dumps({"device": str(device), "eos_logit": args.eos_logit, "rollouts": args.rollouts,
                                   "rounds": args.rounds, "load1": round(os.getloadavg()[0], 2),
                                   "ms_per_rollout": {k: round(statistics.median(v) * 1000, 2) for k, v in seconds.items()}}))


if __name__ == "__main__":
    main()
