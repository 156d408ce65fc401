"""bench/gpu/: compare.py's RESULT lines (Arbiter's side, tiny shapes on the CPU) and the summary."""
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPARE = ROOT / "bench" / "gpu" / "compare.py"
SUMMARISE = ROOT / "bench" / "gpu" / "summarise.py"
TINY = ["--impl", "arbiter", "--layers", "1", "--embd", "32", "--heads", "2", "--threads", "2"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One tokenizer for the module's runs (trained by the first)."""
    return tmp_path_factory.mktemp("gpu-bench-cache")


def run_compare(*args) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, str(COMPARE), *args], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.returncode, json.loads(lines[0][len("RESULT "):])


def test_rm_result_counts_the_real_tokens_and_their_flops_utilisation(cache_dir):
    rc, r = run_compare("rm", *TINY, "--max-len", "256", "--n-train", "8", "--n-eval", "4", "--batch", "4",
                        "--peak-tflops", "100", "--cache-dir", str(cache_dir))
    assert rc == 0
    assert (r["what"], r["impl"], r["pairs"], r["steps"]) == ("rm", "arbiter", 8, 2)
    assert r["peak_mem_gib"] > 0 and r["train_s"] > 0 and 0 <= r["heldout_acc"] <= 1
    # independently: the first 8 pairs, EOS appended, each side cut to its last 256 tokens; Arbiter
    # runs a pair's shared prefix once (each side keeps at least its last token)
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(str(cache_dir / "bpe8000"))
    with gzip.open(ROOT / "data" / "demo" / "hh-harmless-1000.jsonl.gz", "rt") as f:
        rows = [json.loads(next(f)) for _ in range(8)]
    pair_tokens = real_tokens = 0
    for row in rows:
        c, rj = ((tok(row[side], add_special_tokens=False)["input_ids"] + [tok.eos_token_id])[-256:]
                 for side in ("chosen", "rejected"))
        shared = next((k for k in range(min(len(c), len(rj)) - 1) if c[k] != rj[k]), min(len(c), len(rj)) - 1)
        pair_tokens += len(c) + len(rj)
        real_tokens += len(c) + len(rj) - shared
    assert r["pair_tokens"] == pair_tokens
    assert r["real_tokens"] == real_tokens < pair_tokens
    assert r["real_tokens_per_s"] == pytest.approx(real_tokens / r["train_s"], rel=1e-3)
    assert r["params_non_embedding"] == 12 * 32**2 + 16 * 32  # GPT-2, 1 layer of width 32, scalar head
    assert r["mfu"] == pytest.approx(6 * r["params_non_embedding"] * r["real_tokens_per_s"] / 100e12, rel=1e-3)


def test_ppo_result_has_throughput_memory_and_phase_sums(cache_dir):
    rc, r = run_compare("ppo", *TINY, "--steps", "2", "--batch", "4", "--resp", "8", "--cache-dir", str(cache_dir))
    assert rc == 0
    assert (r["what"], r["impl"], r["episodes"]) == ("ppo", "arbiter", 8)
    assert r["episodes_per_s"] == pytest.approx(8 / r["train_s"], rel=1e-3)
    assert r["peak_mem_gib"] > 0 and r["last_kl"] is not None
    for key in ("time/rollout_s", "time/score_s", "time/ref_value_s", "time/update_s"):
        assert key in r  # None until the trainer logs the phase
    assert 0 < r["time/step_s"] <= r["train_s"] * 1.001  # the steps are (nearly) all of the training


def test_an_option_arbiter_lacks_is_a_result_with_the_error(cache_dir):
    rc, r = run_compare("rm", *TINY, "--max-len", "32", "--n-train", "4", "--n-eval", "2", "--batch", "4",
                        "--arbiter-config", '{"no_such_option": 1}', "--cache-dir", str(cache_dir))
    assert rc == 1
    assert "no_such_option" in r["error"] and r["arbiter_config"] == {"no_such_option": 1}


def test_summary_ratios_are_medians_against_trl():
    shape = "rm gpt2 12x768 len 512 batch 16 pairs 800"
    run = {"what": "rm", "shape": shape, "device": "H200", "real_tokens_per_s": 1000.0, "mfu": 0.1}
    lines = [
        "### a header line is ignored",
        "RESULT " + json.dumps({**run, "impl": "trl", "arbiter_config": None, "pairs_per_s": 40.0, "peak_mem_gib": 10.0}),
        *("RESULT " + json.dumps({**run, "impl": "arbiter", "arbiter_config": {}, "pairs_per_s": s, "peak_mem_gib": m})
          for s, m in ((50.0, 4.0), (70.0, 5.0), (60.0, 3.0))),
        "RESULT " + json.dumps({"what": "rm", "shape": shape, "impl": "arbiter", "arbiter_config": {"packing": True},
                                "error": "ValueError: no option packing"}),
        "RESULT " + json.dumps({"argv": ["ppo", "--impl", "trl"], "error": "exit 124: timed out after 200 s"}),
    ]
    proc = subprocess.run([sys.executable, str(SUMMARISE)], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, check=True)
    trl_row, arbiter_row = [line.split() for line in proc.stdout.splitlines() if line.strip().startswith(("trl", "arbiter "))]
    assert trl_row[1:] == ["1", "40.00", "40.00", "1.00x", "10.000", "1.00x", "1000", "10.00"]  # MFU in %
    assert arbiter_row[1:7] == ["3", "50.00", "70.00", "60.00", "60.00", "1.50x"]  # median 60 / 40
    assert arbiter_row[7:9] == ["4.000", "0.40x"]  # median 4 / 10
    assert '{"packing":true}: ValueError: no option packing' in proc.stdout
    assert "ppo --impl trl: exit 124: timed out after 200 s" in proc.stdout
