"""Server-drawn SVG charts: no chart library, nothing from a CDN. Every label is escaped."""
import math

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#2f5bd3", "#d3562f", "#1e7a3c", "#9a6700", "#7b3fb5", "#0f8a8a"]


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi == lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= n:
            step *= mult
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    title: str = "",
    width: int = 520,
    height: int = 220,
    x_label: str = "",
) -> SafeString:
    """`series` maps a name to [(x, y), ...]. Missing or non-finite points are skipped."""
    points = {name: [(x, y) for x, y in pts if y is not None and math.isfinite(y)] for name, pts in series.items()}
    all_pts = [p for pts in points.values() for p in pts]
    left, right, top, bottom = 48, 12, 24, 30
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}">']
    parts.append(f"<title>{escape(title)}</title>")
    parts.append(f'<text x="{left}" y="15" style="font-weight:600;fill:#1d2330">{escape(title)}</text>')
    if not all_pts:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">No data yet</text></svg>')
        return mark_safe("".join(parts))
    xs, ys = [p[0] for p in all_pts], [p[1] for p in all_pts]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad

    def sx(x):
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y):
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    for t in _ticks(y0, y1):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eef0f4"/>')
        parts.append(f'<text x="{left - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        parts.append(f'<text x="{sx(t):.1f}" y="{height - bottom + 14}" text-anchor="middle">{_fmt(t)}</text>')
    if x_label:
        parts.append(f'<text x="{width - right}" y="{height - 4}" text-anchor="end">{escape(x_label)}</text>')
    for i, (name, pts) in enumerate(points.items()):
        colour = PALETTE[i % len(PALETTE)]
        if len(pts) == 1:
            parts.append(f'<circle cx="{sx(pts[0][0]):.1f}" cy="{sy(pts[0][1]):.1f}" r="3" fill="{colour}"/>')
        elif pts:
            d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{d}"/>')
        if len(points) > 1:
            lx = left + 8 + i * 120
            parts.append(f'<rect x="{lx}" y="{top}" width="10" height="3" fill="{colour}"/>')
            parts.append(f'<text x="{lx + 14}" y="{top + 5}">{escape(name)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


# Interval-chart labels: at most this many characters (longer ones end in "…"; the dot's tooltip
# has the whole label), each taken as this many pixels wide at the charts' 11 px font (a wide
# sans-serif average, so that the column is never too narrow).
LABEL_MAX_CHARS = 48
LABEL_CHAR_PX = 7.0


def _label(label) -> str:
    label = str(label)
    return label if len(label) <= LABEL_MAX_CHARS else label[: LABEL_MAX_CHARS - 1] + "…"


def interval_chart(
    rows: list[tuple[str, float | None, float | None, float | None]],
    *,
    title: str = "",
    reference: float | None = None,
    lo: float = 0.0,
    hi: float = 1.0,
    width: int = 520,
) -> SafeString:
    """One row per (label, value, low, high): a dot with its interval, and an optional dashed
    reference line (the fair rate, say). The label column is as wide as the longest label (up
    to LABEL_MAX_CHARS), so that model names are shown whole rather than clipped."""
    labels = [_label(label) for label, *_ in rows]
    row_h, right, top = 22, 16, 26
    left = max(150, round(LABEL_CHAR_PX * max(map(len, labels), default=0)) + 14)
    width = max(width, left + 300)
    height = top + row_h * max(len(rows), 1) + 24

    def sx(v):
        return left + (v - lo) / (hi - lo) * (width - left - right)

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}">']
    parts.append(f"<title>{escape(title)}</title>")
    parts.append(f'<text x="8" y="16" style="font-weight:600;fill:#1d2330">{escape(title)}</text>')
    if reference is not None:
        parts.append(
            f'<line x1="{sx(reference):.1f}" x2="{sx(reference):.1f}" y1="{top - 4}" y2="{height - 20}" stroke="#999" stroke-dasharray="4 3"/>'
        )
    for t in _ticks(lo, hi):
        parts.append(f'<text x="{sx(t):.1f}" y="{height - 6}" text-anchor="middle">{_fmt(t)}</text>')
    for i, (label, value, low, high) in enumerate(rows):
        y = top + i * row_h + row_h / 2
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(labels[i])}</text>')
        if value is None:
            parts.append(f'<text x="{left + 4}" y="{y + 4:.1f}">no data</text>')
            continue
        if low is not None and high is not None:
            parts.append(f'<line x1="{sx(low):.1f}" x2="{sx(high):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#2f5bd3" stroke-width="2"/>')
        parts.append(f'<circle cx="{sx(value):.1f}" cy="{y:.1f}" r="4" fill="#2f5bd3"><title>{escape(label)}: {value:.3f}</title></circle>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
