"""Turning the audit document into what the dashboard shows: formatted cells, sort orders, charts
and the CSV. Plain strings only; the templates escape them (labeller and model names come from
imported files and are untrusted)."""
import io

from django.utils.html import format_html

from common.charts import interval_chart, line_chart
from common.csv import formula_safe_writer

# (key in the URL, header, field in a labeller row)
LABELLER_COLUMNS = [
    ("username", "Labeller", "username"),
    ("n", "Judgements", "n"),
    ("quality", "Quality", "quality"),
    ("agreement", "Agreement with majority", "agreement_with_majority"),
    ("gold", "Gold accuracy", "gold_accuracy"),
    ("consistency", "Self-consistency", "self_consistency"),
    ("position", "Left chosen", "position_bias"),
    ("length", "Longer chosen", "length_bias"),
    ("sycophancy", "Agreeing chosen", "sycophancy"),
    ("too_fast", "Too fast", "too_fast"),
    ("time", "Median time (s)", "median_time_ms"),
    ("flags", "Flags", "flags"),
]
RATE_FIELDS = ["agreement_with_majority", "gold_accuracy", "self_consistency", "position_bias", "length_bias",
               "sycophancy", "too_fast"]


def fmt_rate(r: dict | None) -> str:
    if not r or r.get("value") is None:
        return "—"
    if r.get("low") is None:
        return f"{r['value']:.0%} (n={r['n']:,})"
    return f"{r['value']:.0%} ({r['low']:.0%}–{r['high']:.0%}, n={r['n']:,})"


def fmt_figure(r: dict) -> str:
    if r.get("value") is None:
        return "no data"
    if r.get("low") is None:
        return f"{r['value']:.3f}"
    return f"{r['value']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"


def _sort_value(row: dict, field: str):
    value = row[field]
    if field == "flags":
        return len(value)
    if isinstance(value, dict):
        value = value.get("value")
    return value


def sorted_labellers(rows: list[dict], key: str, descending: bool) -> list[dict]:
    field = dict((k, f) for k, _, f in LABELLER_COLUMNS).get(key, "username")
    present = [r for r in rows if _sort_value(r, field) is not None]
    missing = [r for r in rows if _sort_value(r, field) is None]
    present.sort(key=lambda r: (_sort_value(r, field), r["username"]), reverse=descending)
    return present + missing  # no data sorts last either way


def labeller_cells(row: dict) -> list[str]:
    return [
        row["username"], f"{row['n']:,}", "—" if row["quality"] is None else f"{row['quality']:.2f}",
        *(fmt_rate(row[f]) for f in ["agreement_with_majority", "gold_accuracy", "self_consistency", "position_bias",
                                      "length_bias", "sycophancy", "too_fast"]),
        "—" if row["median_time_ms"] is None else f"{row['median_time_ms'] / 1000:.1f}",
    ]


def labellers_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = formula_safe_writer(out)
    writer.writerow(["username", "n", "quality", *(f"{f}_{part}" for f in RATE_FIELDS for part in ("value", "low", "high", "n")),
                     "median_time_ms", "flags", "kind"])
    for row in rows:
        writer.writerow([
            row["username"], row["n"], row["quality"],
            *(row[f][part] for f in RATE_FIELDS for part in ("value", "low", "high", "n")),
            row["median_time_ms"], "; ".join(f["reason"] for f in row["flags"]), row.get("kind", "human"),
        ])
    return out.getvalue()


def charts(report: dict) -> dict:
    a = report["agreement"]
    names = [("percent", "Percent agreement"), ("cohen_kappa_mean", "Cohen's kappa (mean)"), ("fleiss_kappa", "Fleiss' kappa"),
             ("krippendorff_alpha_nominal", "Krippendorff α nominal"), ("krippendorff_alpha_ordinal", "Krippendorff α ordinal")]
    lows = [a[k]["low"] for k, _ in names if a[k]["low"] is not None]
    out = {
        "agreement": interval_chart([(label, a[k]["value"], a[k]["low"], a[k]["high"]) for k, label in names],
                                    title="Agreement (95% bootstrap intervals over pairs)", lo=min([0.0, *lows]), hi=1.0),
    }
    fatigue = report["biases"]["fatigue"]
    if report["agreement_by_week"] is None:  # no real judgement times: a line saying so instead of the charts
        why = format_html('<p class="audit-sentence">{}</p>', fatigue["times_sentence"])
        out.update(weeks=why, fatigue=why, hours="")
        return _with_leaderboard(out, report)
    out["weeks"] = line_chart({"percent agreement": [(i, w["value"]) for i, w in enumerate(report["agreement_by_week"])]},
                              title="Percent agreement by week", x_label=_week_label(report["agreement_by_week"]))
    out["fatigue"] = line_chart(
        {"agreement with majority": [(i, b["value"]) for i, b in enumerate(fatigue["by_session_position"])]},
        title="Agreement by position in session (buckets 1-10, 11-25, 26-50, 51-100, 101+)", x_label="bucket")
    out["hours"] = line_chart({"agreement with majority": [(b["hour"], b["value"]) for b in fatigue["by_hour_utc"]]},
                              title="Agreement by hour of day (UTC)", x_label="hour")
    return _with_leaderboard(out, report)


def _with_leaderboard(out: dict, report: dict) -> dict:
    board = report.get("leaderboard")
    if board:
        for name, title in (("raw", "Bradley-Terry rating, raw"), ("length_controlled", "Rating, length-controlled")):
            rows = [(m["model"], m[name]["value"], m[name]["low"], m[name]["high"]) for m in board["models"]]
            values = [v for m in board["models"] for v in (m["raw"]["low"], m["raw"]["high"], m["length_controlled"]["low"],
                                                           m["length_controlled"]["high"]) if v is not None]
            lo, hi = (min(values) - 10, max(values) + 10) if values else (900, 1100)
            out[f"leaderboard_{name}"] = interval_chart(rows, title=title, reference=1000, lo=lo, hi=hi)
    return out


def _week_label(weeks: list[dict]) -> str:
    return f"weeks from {weeks[0]['week']}" if weeks else ""
