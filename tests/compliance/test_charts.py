"""SVG chart geometry (escalations.compliance.charts) and its template: ticks, scaling, gaps, empty data,
accessibility, and every drawn value inside the viewBox."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from django.template.loader import render_to_string

from escalations.compliance import charts
from escalations.compliance.charts import BandScale, LinearScale, Series, bar_chart, line_chart, nice_step, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def render(chart: charts.Chart) -> str:
    return render_to_string("compliance/_chart.html", {"chart": chart})


def svg_of(html: str) -> ET.Element:
    match = re.search(r"<svg.*?</svg>", html, re.S)
    assert match, "no <svg> in the chart"
    return ET.fromstring(match.group(0))  # noqa: S314 (our own template's output, not untrusted input)


def time_chart(values: list[float | None], p90: list[float | None] | None = None, **kwargs: Any) -> charts.Chart:
    categories = [f"W{i}" for i in range(len(values))]
    series = [Series("Median", values, "series-median")]
    if p90 is not None:
        series.append(Series("90th percentile", p90, "series-p90"))
    return line_chart(
        slug="t",
        title="Time to report",
        desc="Weekly times.",
        categories=categories,
        series=series,
        x_label="Week",
        y_label="Hours",
        tick_format=lambda v: f"{v:g} h",
        rules=kwargs.pop("rules", [(24, "Target 24 h")]),
        **kwargs,
    )


# --- Ticks and scales --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maximum", "integer", "expected"),
    [
        (48, False, [0, 10, 20, 30, 40, 50]),
        (24, False, [0, 5, 10, 15, 20, 25]),
        (30, False, [0, 10, 20, 30]),
        (100, False, [0, 20, 40, 60, 80, 100]),
        (1, False, [0, 0.2, 0.4, 0.6, 0.8, 1]),
        (11, False, [0, 2.5, 5, 7.5, 10, 12.5]),
        (0, False, [0, 1]),
        (2, True, [0, 1, 2]),
        (7, True, [0, 2, 4, 6, 8]),
        (11, True, [0, 5, 10, 15]),
        (0, True, [0, 1]),
        (250, True, [0, 50, 100, 150, 200, 250]),
    ],
)
def test_nice_ticks(maximum: float, integer: bool, expected: list[float]) -> None:
    assert nice_ticks(maximum, integer=integer) == expected


def test_ticks_always_cover_the_maximum() -> None:
    for maximum in [0.3, 1, 3, 9.99, 17, 23.5, 99, 101, 1234, 98_765]:
        ticks = nice_ticks(maximum)
        assert ticks[0] == 0 and ticks[-1] >= maximum
        assert len(ticks) <= 7


def test_nice_step_handles_nonsense() -> None:
    assert nice_step(0) == 1.0
    assert nice_step(-5) == 1.0
    assert nice_step(float("inf")) == 1.0


def test_linear_scale_maps_and_clamps() -> None:
    y = LinearScale(0, 50, 240, 16)  # SVG y grows downwards
    assert y(0) == 240
    assert y(50) == 16
    assert y(25) == 128
    assert y(-10) == 240 and y(80) == 16
    assert LinearScale(5, 5, 240, 16)(5) == 240


def test_band_scale_centres() -> None:
    band = BandScale(4, 72, 616)
    assert band.width == 136
    assert [band.center(i) for i in range(4)] == [140, 276, 412, 548]


# --- Line charts -----------------------------------------------------------------------------------


def test_line_chart_scales_values_onto_the_plot() -> None:
    chart = time_chart([10, 30, 6], p90=[30, 36, 48])
    assert [t.label for t in chart.y_ticks] == ["0 h", "10 h", "20 h", "30 h", "40 h", "50 h"]
    top, bottom = chart.top, chart.bottom
    assert chart.y_ticks[0].position == bottom and chart.y_ticks[-1].position == top
    scale = (bottom - top) / 50
    median = [p for p in chart.points if p.css_class == "series-median"]
    assert [p.y for p in median] == [round(bottom - v * scale, 1) for v in (10, 30, 6)]
    assert [r.y for r in chart.rules] == [round(bottom - 24 * scale, 1)]
    assert chart.lines[0].d.startswith("M") and chart.lines[0].d.count("L") == 2
    assert chart.points[0].title == "W0: Median 10"


def test_the_axis_reaches_the_target_line_even_when_every_value_is_below_it() -> None:
    chart = time_chart([1, 2])
    assert chart.y_ticks[-1].label == "25 h"
    assert chart.rules[0].y >= chart.top


def test_missing_values_break_the_line() -> None:
    chart = time_chart([5, None, 7, 8])
    assert chart.lines[0].d.count("M") == 2
    assert len(chart.points) == 3
    assert chart.table.rows[1][1].text == "—"


def test_x_labels_are_thinned_and_the_latest_is_kept() -> None:
    chart = time_chart([1.0] * 24)
    labelled = [t.label for t in chart.x_ticks if t.label]
    assert len(chart.x_ticks) == 24
    assert len(labelled) <= charts.MAX_X_LABELS
    assert chart.x_ticks[-1].label == "W23"


def test_series_must_match_the_categories() -> None:
    with pytest.raises(ValueError, match="2 values for 3 categories"):
        line_chart(
            slug="x",
            title="t",
            desc="d",
            categories=["a", "b", "c"],
            series=[Series("s", [1, 2], "c")],
            x_label="x",
            y_label="y",
        )


# --- Bar charts ---------------------------------------------------------------------------------------


def test_stacked_bars_add_up() -> None:
    chart = bar_chart(
        slug="backlog",
        title="Backlog",
        desc="Stacked.",
        categories=["a", "b", "c"],
        series=[Series("Overdue", [1, 0, 3], "series-overdue"), Series("Within", [2, 4, 1], "series-within")],
        x_label="Week end",
        y_label="Escalations",
    )
    assert [t.label for t in chart.y_ticks] == ["0", "1", "2", "3", "4"]
    unit = (chart.bottom - chart.top) / 4
    by_category: dict[float, list[charts.Bar]] = {}
    for bar in chart.bars:
        by_category.setdefault(bar.x, []).append(bar)
    heights = [round(sum(b.height for b in bars) / unit, 3) for _, bars in sorted(by_category.items())]
    assert heights == [3, 4, 4]
    # Zero values draw no bar; stacked bars touch (the upper one starts where the lower ends).
    assert len(chart.bars) == 5
    first = sorted(by_category.items())[0][1]
    assert round(first[0].y, 1) == round(first[1].y + first[1].height, 1)
    assert all(round(b.y + b.height, 1) <= chart.bottom for b in chart.bars)


def test_percent_bars_use_a_fixed_axis() -> None:
    chart = bar_chart(
        slug="share",
        title="Share",
        desc="Percent.",
        categories=["a", "b"],
        series=[Series("Within target", [75.0, None], "series-share", ["75.0 %", "—"], ["/x?a", "/x?b"])],
        x_label="Week",
        y_label="Share",
        tick_format=lambda v: f"{v:g} %",
        y_max=100,
    )
    assert chart.y_ticks[-1].label == "100 %"
    assert len(chart.bars) == 1
    assert chart.bars[0].height == round((chart.bottom - chart.top) * 0.75, 1)
    # The table links the value, and nothing behind a missing one.
    assert [(c.text, c.url) for c in (chart.table.rows[0][1], chart.table.rows[1][1])] == [
        ("75.0 %", "/x?a"),
        ("—", None),
    ]


# --- Empty data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("categories", [[], ["W1", "W2"]])
def test_empty_series_render_without_error(categories: list[str]) -> None:
    none: list[float | None] = [None] * len(categories)
    line = time_chart(none, p90=none)
    bars = bar_chart(
        slug="e",
        title="Empty",
        desc="Nothing.",
        categories=categories,
        series=[Series("Holds", none, "series-holds")],
        x_label="Week",
        y_label="Holds",
    )
    for chart in (line, bars):
        assert chart.empty
        assert chart.lines == [] and chart.points == [] and chart.bars == []
        html = render(chart)
        assert "No data for this period" in html
        svg_of(html)  # well-formed
        assert chart.table.rows  # a "No data" row or a row per category
    assert line.y_ticks[-1].label == "25 h"  # still reaches the target line


# --- The rendered SVG -------------------------------------------------------------------------------


def test_svg_is_accessible() -> None:
    html = render(time_chart([3, 4], p90=[8, 9]))
    svg = svg_of(html)
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None and title.text == "Time to report"
    assert desc is not None and desc.text == "Weekly times."
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    axis_titles = [t.text for t in svg.iter(f"{SVG}text") if "axis-title" in (t.get("class") or "")]
    assert axis_titles == ["Hours", "Week"]
    # A table of the same data beside the chart.
    assert "<caption>Time to report</caption>" in html
    assert re.search(r"<th scope=\"col\">Week</th><th scope=\"col\">Median</th><th scope=\"col\">90th percentile", html)
    assert "<script" not in html and not re.search(r"\sstyle=", html)


def _inside(svg: ET.Element) -> list[str]:
    """Every coordinate in the SVG that falls outside its viewBox (the rotated axis title aside)."""
    _, _, width, height = (float(v) for v in (svg.get("viewBox") or "").split())
    outside = []
    for element in svg.iter():
        if element.get("transform"):
            continue
        for name, limit in (("x", width), ("x1", width), ("x2", width), ("cx", width),
                            ("y", height), ("y1", height), ("y2", height), ("cy", height)):  # fmt: skip
            value = element.get(name)
            if value is not None and not 0 <= float(value) <= limit:
                outside.append(f"{element.tag} {name}={value}")
        if element.get("width") and element.tag == f"{SVG}rect":
            if float(element.get("x", 0)) + float(element.get("width", 0)) > width:
                outside.append(f"rect past the right edge: {element.attrib}")
            if float(element.get("y", 0)) + float(element.get("height", 0)) > height:
                outside.append(f"rect past the bottom: {element.attrib}")
        if element.tag == f"{SVG}path":
            for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", element.get("d", "")):
                if not (0 <= float(x) <= width and 0 <= float(y) <= height):
                    outside.append(f"path point {x},{y}")
    return outside


@pytest.mark.parametrize(
    "values",
    [[0.5, 700, 3], [0, 0, 0], [10_000.0], [None, 1, None], [1e-6, 2e-6]],
)
def test_every_value_lies_inside_the_viewbox(values: list[float | None]) -> None:
    line = time_chart(values, p90=[v * 2 if v is not None else None for v in values])
    stacked = bar_chart(
        slug="b",
        title="Bars",
        desc="d",
        categories=[str(i) for i in range(len(values))],
        series=[Series("a", values, "series-overdue"), Series("b", values, "series-within")],
        x_label="x",
        y_label="y",
        integer=False,
    )
    for chart in (line, stacked):
        svg = svg_of(render(chart))
        assert _inside(svg) == []
        plotted = [*(p.y for p in chart.points), *(b.y for b in chart.bars)]
        assert all(chart.top <= y <= chart.bottom for y in plotted)
