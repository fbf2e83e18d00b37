"""docs/benchmarks.svg: a horizontal bar chart of median times (p95 as a tick), both data-set sizes,
on a logarithmic axis in milliseconds. Hand-built SVG with a title and description for screen
readers; colours in its own <style>, so it renders the same on GitHub and in a browser."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH = 860
ROW_HEIGHT = 34
BAR_HEIGHT = 12
MARGIN_LEFT = 230
MARGIN_RIGHT = 30
MARGIN_TOP = 70
MARGIN_BOTTOM = 60


@dataclass(frozen=True)
class Bar:
    """One measurement: its label and (median, p95) in ms for the small and the large data set."""

    label: str
    small: tuple[float, float] | None
    large: tuple[float, float] | None


def _fmt_ms(value: float) -> str:
    if value >= 100_000:
        return f"{value / 1000:,.0f} s"
    if value >= 1000:
        return f"{value / 1000:.3g} s"
    if value >= 10:
        return f"{value:.0f} ms"
    return f"{value:.2g} ms"


def svg(bars: list[Bar], title: str, desc: str, small_label: str, large_label: str) -> str:
    values = [v for bar in bars for pair in (bar.small, bar.large) if pair for v in pair if v > 0]
    low = 10 ** math.floor(math.log10(min(values))) if values else 1.0
    high = 10 ** math.ceil(math.log10(max(values))) if values else 10.0
    if high <= low:
        high = low * 10
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    height = MARGIN_TOP + ROW_HEIGHT * len(bars) + MARGIN_BOTTOM

    def x(value: float) -> float:
        value = min(max(value, low), high)
        return MARGIN_LEFT + plot_width * (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        'role="img" aria-labelledby="bench-title bench-desc" font-family="sans-serif" font-size="12">',
        f'<title id="bench-title">{escape(title)}</title>',
        f'<desc id="bench-desc">{escape(desc)}</desc>',
        "<style>.small{fill:#8fb3d9}.large{fill:#1f4e79}.p95{stroke:#b22222;stroke-width:2}"
        ".grid{stroke:#ddd}.axis{stroke:#333}text{fill:#222}.value{font-size:10px;fill:#444}</style>",
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    # Legend.
    legend_y = 42
    out += [
        f'<rect class="small" x="{MARGIN_LEFT}" y="{legend_y}" width="14" height="10"/>',
        f'<text x="{MARGIN_LEFT + 20}" y="{legend_y + 9}">{escape(small_label)}, median</text>',
        f'<rect class="large" x="{MARGIN_LEFT + 210}" y="{legend_y}" width="14" height="10"/>',
        f'<text x="{MARGIN_LEFT + 230}" y="{legend_y + 9}">{escape(large_label)}, median</text>',
        f'<line class="p95" x1="{MARGIN_LEFT + 440}" x2="{MARGIN_LEFT + 440}" '
        f'y1="{legend_y - 2}" y2="{legend_y + 12}"/>',
        f'<text x="{MARGIN_LEFT + 448}" y="{legend_y + 9}">p95</text>',
    ]
    bottom = MARGIN_TOP + ROW_HEIGHT * len(bars)
    # Grid and x axis: one line per power of ten.
    exponent = round(math.log10(low))
    while 10**exponent <= high * 1.0001:
        tick = float(10**exponent)
        gx = x(tick)
        out.append(f'<line class="grid" x1="{gx:.1f}" x2="{gx:.1f}" y1="{MARGIN_TOP - 6}" y2="{bottom}"/>')
        out.append(f'<text x="{gx:.1f}" y="{bottom + 16}" text-anchor="middle">{_fmt_ms(tick)}</text>')
        exponent += 1
    out.append(f'<line class="axis" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_width}" y1="{bottom}" y2="{bottom}"/>')
    out.append(f'<line class="axis" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT}" y1="{MARGIN_TOP - 6}" y2="{bottom}"/>')
    out.append(
        f'<text x="{MARGIN_LEFT + plot_width / 2}" y="{bottom + 40}" text-anchor="middle">'
        "Time per operation (logarithmic scale; shorter is faster)</text>"
    )
    for index, bar in enumerate(bars):
        top = MARGIN_TOP + ROW_HEIGHT * index
        out.append(
            f'<text x="{MARGIN_LEFT - 8}" y="{top + ROW_HEIGHT / 2 + 4}" text-anchor="end">{escape(bar.label)}</text>'
        )
        for offset, css, pair, size in (
            (3, "small", bar.small, small_label),
            (3 + BAR_HEIGHT + 2, "large", bar.large, large_label),
        ):
            if pair is None:
                continue
            median, p95 = pair
            y = top + offset
            end = x(median)
            out.append(
                f'<rect class="{css}" x="{MARGIN_LEFT}" y="{y}" width="{max(end - MARGIN_LEFT, 1):.1f}" '
                f'height="{BAR_HEIGHT}"><title>{escape(bar.label)}, {escape(size)}: median {_fmt_ms(median)}, '
                f"p95 {_fmt_ms(p95)}</title></rect>"
            )
            px = x(p95)
            out.append(f'<line class="p95" x1="{px:.1f}" x2="{px:.1f}" y1="{y - 1}" y2="{y + BAR_HEIGHT + 1}"/>')
            out.append(
                f'<text class="value" x="{max(end, px) + 5:.1f}" y="{y + BAR_HEIGHT - 2}">{_fmt_ms(median)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"
