"""Seeds for the anchor comparisons (bench/dpo.py, bench/kto.py): one seed changed the same way on
both sides, and held-out accuracy summarised over seeds.

The anchors read a single seed, `anchor_common.SEED`: the policy's random init (`build_policy`
takes it as a default argument, so it must be set before trl_dpo_bench is imported), the
trainer's seed, and KTO's unpairing shuffle. `peer_command` runs an anchor script in the peer
environment with it set first (runpy); Arbiter's workers call `set_anchor_seed` before importing
trl_dpo_bench and pass the seed on as their config's `seed` (batch order).

`--log FILE` keeps every run's RESULT as one JSON line (side, seed, variant); `summarise` pairs
Arbiter's runs with TRL's by seed, per Arbiter variant, from one invocation or from such a log.
"""
import json
import math
import statistics
import sys


def parse_seeds(text: str) -> list[int]:
    seeds = [int(s) for s in text.split(",") if s.strip()]
    if not seeds or len(set(seeds)) != len(seeds):
        raise SystemExit(f"--seeds needs distinct integers separated by commas, not {text!r}")
    return seeds


def set_anchor_seed(anchor_common, seed: int) -> None:
    """Sets `anchor_common.SEED` in this process (the anchors' own is 1234)."""
    assert "trl_dpo_bench" not in sys.modules, "set the seed before trl_dpo_bench is imported (build_policy's default)"
    anchor_common.SEED = seed


def peer_command(peer_python: str, anchors: str, script: str, seed: int, args: list[str]) -> list[str]:
    """The peer's command line: the anchor script run as __main__, after anchor_common.SEED = seed."""
    code = (f"import runpy, sys; sys.path.insert(0, {anchors!r}); import anchor_common; anchor_common.SEED = {int(seed)}; "
            f"sys.argv = [{script!r}, *{list(args)!r}]; runpy.run_path({script!r}, run_name='__main__')")
    return [peer_python, "-c", code]


def log_rows(path: str | None, rows: list[dict]) -> None:
    if path:
        with open(path, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


def read_log(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarise(rows: list[dict], *, rate: str) -> list[dict]:
    """One summary per Arbiter variant: per seed (median over rounds) TRL's and Arbiter's held-out
    accuracy, their difference, `rate` per CPU second and peak RSS; then the mean and sample
    standard deviation of each side's accuracy over its seeds, and of the paired difference over
    the seeds both sides ran (with its standard error, sd / sqrt(n)). `rate` names the count per
    run: "pairs_used" (DPO) or "completions_used" (KTO)."""
    def per_seed(side_rows):
        out = {}
        for seed in sorted({r["seed"] for r in side_rows}):
            runs = [r for r in side_rows if r["seed"] == seed]
            out[seed] = {"acc": statistics.median(r["heldout_acc"] for r in runs),
                         "per_cpu_s": statistics.median(r[rate] / r["cpu_s"] for r in runs),
                         "rss": statistics.median(r["peak_rss_mib"] for r in runs),
                         "load1": max(r["load1"] for r in runs), "runs": len(runs)}
        return out

    summaries = []
    trl_all = [r for r in rows if r["side"] == "trl"]
    variants = sorted({json.dumps(r["variant"], sort_keys=True) for r in rows if r["side"] == "arbiter"})
    for variant in variants or [None]:
        ours_rows = [r for r in rows if r["side"] == "arbiter" and json.dumps(r["variant"], sort_keys=True) == variant]
        steps = json.loads(variant)["max_steps"] if variant else None
        trl = per_seed([r for r in trl_all if variant is None or r["variant"]["max_steps"] == steps])
        ours = per_seed(ours_rows)
        s = {"variant": json.loads(variant) if variant else None, "trl": trl, "arbiter": ours}
        for name, side in (("trl", trl), ("arbiter", ours)):
            if side:
                s[f"{name}_acc_mean"], s[f"{name}_acc_sd"] = _mean_sd([v["acc"] for v in side.values()])
        both = [seed for seed in ours if seed in trl]
        if both:
            diffs = [ours[seed]["acc"] - trl[seed]["acc"] for seed in both]
            mean, sd = _mean_sd(diffs)
            s.update(paired_seeds=both, diff_mean=mean, diff_sd=sd,
                     diff_se=sd / math.sqrt(len(both)) if sd is not None else None,
                     cpu_ratio_mean=statistics.mean(ours[k]["per_cpu_s"] / trl[k]["per_cpu_s"] for k in both),
                     memory_ratio_max=max(ours[k]["rss"] / trl[k]["rss"] for k in both))
        summaries.append(s)
    return summaries


def print_summaries(summaries: list[dict]) -> None:
    def fmt(x, spec):  # "-" where a side did not run, right-aligned to the column
        return format(x, spec) if x is not None else format("-", ">" + spec.split(".")[0].lstrip("+"))

    for s in summaries:
        print(f"\nArbiter variant {json.dumps(s['variant'])}")
        print("  seed    TRL acc  Arbiter acc    diff  TRL/CPU s  Arb/CPU s  CPU ratio  TRL RSS  Arb RSS  load1 max")
        for seed in sorted(set(s["trl"]) | set(s["arbiter"])):
            t, a = s["trl"].get(seed), s["arbiter"].get(seed)
            diff = a["acc"] - t["acc"] if t and a else None
            ratio = a["per_cpu_s"] / t["per_cpu_s"] if t and a else None
            print(f"  {seed:>5}  {fmt(t and t['acc'], '8.3f')}  {fmt(a and a['acc'], '11.3f')}  {fmt(diff, '+6.3f')}"
                  f"  {fmt(t and t['per_cpu_s'], '9.2f')}  {fmt(a and a['per_cpu_s'], '9.2f')}  {fmt(ratio, '8.2f')}{'x' if ratio else ' '}"
                  f"  {fmt(t and t['rss'], '7.0f')}  {fmt(a and a['rss'], '7.0f')}"
                  f"  {max(x['load1'] for x in (t, a) if x):9.2f}")
        for name in ("trl", "arbiter"):
            if f"{name}_acc_mean" in s:
                print(f"  {name:8s} accuracy mean {s[f'{name}_acc_mean']:.4f}  sd {fmt(s[f'{name}_acc_sd'], '.4f')}"
                      f"  over {len(s[name])} seeds")
        if "diff_mean" in s:
            print(f"  paired difference (Arbiter - TRL) mean {s['diff_mean']:+.4f}  sd {fmt(s['diff_sd'], '.4f')}"
                  f"  se {fmt(s['diff_se'], '.4f')}  over seeds {s['paired_seeds']}; CPU ratio mean"
                  f" {s['cpu_ratio_mean']:.2f}x; memory ratio max {s['memory_ratio_max']:.2f}x")
    print("SEEDS " + json.dumps(summaries))
