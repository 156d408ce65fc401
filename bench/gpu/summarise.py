"""The summary table of a GPU comparison: reads the `RESULT {json}` lines of bench/gpu/compare.py
(from results.log files, or standard input) and prints, per shape, each implementation and Arbiter
configuration with its runs, the median throughput and peak memory, and their ratios to TRL's
medians on the same shape; then the runs that failed, timed out or were skipped, with why.

  python bench/gpu/summarise.py $OUT/results.log      (or: ... | python bench/gpu/summarise.py)
"""
import fileinput
import json
import statistics
import sys

PHASES = ("time/rollout_s", "time/score_s", "time/ref_value_s", "time/advantages_s", "time/update_s")


def read_results(lines) -> list[dict]:
    return [json.loads(line.split("RESULT ", 1)[1]) for line in lines if line.startswith("RESULT ")]


def _median(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _fmt(x, spec=".2f") -> str:
    return "-" if x is None else format(x, spec)


def _ratio(x, base) -> str:
    return "-" if x is None or not base else f"{x / base:.2f}x"


def _variant(r: dict) -> str:
    config = r.get("arbiter_config")
    return r["impl"] + (" " + json.dumps(config, separators=(",", ":")) if config else "")


def summarise(results: list[dict]) -> str:
    done = [r for r in results if "error" not in r]
    failed = [r for r in results if "error" in r]
    out = []
    shapes = list(dict.fromkeys(r["shape"] for r in done))  # in the order they ran
    for shape in shapes:
        runs = [r for r in done if r["shape"] == shape]
        rm = runs[0]["what"] == "rm"
        speed = "pairs_per_s" if rm else "episodes_per_s"
        trl = [r for r in runs if r["impl"] == "trl"]
        base_speed, base_mem = _median(trl, speed), _median(trl, "peak_mem_gib")
        out.append(f"\n{shape}  (device: {runs[0].get('device')}; memory: {runs[0].get('peak_mem_is')})")
        extra = "  real tok/s    MFU %" if rm else "  " + "  ".join(f"{p[5:-2]:>10s}" for p in PHASES)
        out.append(f"  {'implementation':34s} runs  {speed + ' (each run)':30s} {'median':>8s} {'x TRL':>6s}"
                   f"  {'peak GiB':>8s} {'x TRL':>6s}{extra}")
        for variant in dict.fromkeys(_variant(r) for r in runs):
            group = [r for r in runs if _variant(r) == variant]
            each = " ".join(_fmt(r[speed]) for r in group)
            med_speed, med_mem = _median(group, speed), _median(group, "peak_mem_gib")
            line = (f"  {variant:34s} {len(group):4d}  {each:30s} {_fmt(med_speed):>8s} {_ratio(med_speed, base_speed):>6s}"
                    f"  {_fmt(med_mem, '.3f'):>8s} {_ratio(med_mem, base_mem):>6s}")
            if rm:
                mfu = _median(group, "mfu")
                line += f"  {_fmt(_median(group, 'real_tokens_per_s'), '.0f'):>11s}  {_fmt(mfu and 100 * mfu):>7s}"
            else:  # summed over the run's steps; TRL does not log them
                line += "  " + "  ".join(f"{_fmt(_median(group, p)):>10s}" for p in PHASES)
            out.append(line)
    if failed:
        out.append("\nfailed, timed out or skipped:")
        for r in failed:
            what = f"{r['shape']} {_variant(r)}" if "shape" in r else " ".join(r.get("argv", []))
            out.append(f"  {what}: {r['error']}")
    return "\n".join(out).lstrip("\n")


def main():
    print(summarise(read_results(fileinput.input(sys.argv[1:]))))


if __name__ == "__main__":
    main()
