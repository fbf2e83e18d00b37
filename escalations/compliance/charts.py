"""SVG chart geometry for server-rendered charts: scales, ticks, line paths and bars, returned as
plain data for templates/escalations/_chart.html. No drawing library, no JavaScript, no inline
styles: the template draws with classes that static/css/app.css colours, so the charts work under a
strict CSP and print as vectors.

Coordinates are in the SVG's viewBox units (WIDTH by HEIGHT); every value lies inside the plot area.
Each chart carries a table of the same data, shown beside it for screen readers and for print.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

WIDTH = 640
HEIGHT = 300
# Room for tick labels and axis titles around the plot area.
MARGIN_TOP = 16
MARGIN_RIGHT = 24
MARGIN_BOTTOM = 60
MARGIN_LEFT = 72
MAX_X_LABELS = 8
NO_DATA = "No data"


def _round(value: float) -> float:
    return round(value, 1)


def nice_step(span: float, max_ticks: int = 5, integer: bool = False) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of 10) that divides `span` into at most `max_ticks` intervals.
    With `integer`, only whole steps of at least 1 (counts have no fractions)."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(max_ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if integer and (step < 1 or step != int(step)):
            continue
        if step >= raw:
            return float(step)
    return float(10 * magnitude)


def nice_ticks(maximum: float, max_ticks: int = 5, integer: bool = False) -> list[float]:
    """Tick values from 0 to the first round number at or above `maximum` (at least one step)."""
    step = nice_step(maximum, max_ticks, integer)
    top = max(math.ceil(maximum / step - 1e-9), 1) if maximum > 0 else 1
    return [round(i * step, 10) for i in range(top + 1)]


@dataclass(frozen=True)
class LinearScale:
    """Maps values in [d0, d1] onto [r0, r1] (r0 > r1 for a y axis: SVG's y grows downwards),
    clamped so that nothing is ever drawn outside the plot."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        if self.d1 == self.d0:
            return self.r0
        ratio = (value - self.d0) / (self.d1 - self.d0)
        ratio = min(max(ratio, 0.0), 1.0)
        return self.r0 + ratio * (self.r1 - self.r0)


@dataclass(frozen=True)
class BandScale:
    """`count` equal bands across [r0, r1]; center(i) is the middle of band i."""

    count: int
    r0: float
    r1: float

    @property
    def width(self) -> float:
        return (self.r1 - self.r0) / max(self.count, 1)

    def center(self, index: int) -> float:
        return self.r0 + self.width * (index + 0.5)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Cell:
    text: str
    url: str | None = None


@dataclass(frozen=True)
class Series:
    """Values to plot (None: no value, a gap), their labels for the table and tooltips (default:
    the number), optional links per value, and the CSS class that colours them."""

    name: str
    values: Sequence[float | None]
    css_class: str
    labels: Sequence[str] | None = None
    links: Sequence[str | None] | None = None

    def label(self, index: int) -> str:
        if self.labels is not None:
            return self.labels[index]
        value = self.values[index]
        if value is None:
            return "—"
        return f"{value:g}"

    def link(self, index: int) -> str | None:
        """The value's link; none for a missing value (there is nothing to show behind "—")."""
        if self.links is None or self.values[index] is None:
            return None
        return self.links[index]


@dataclass(frozen=True)
class Line:
    name: str
    d: str
    css_class: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    css_class: str
    title: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str


@dataclass(frozen=True)
class Rule:
    """A horizontal reference line (a target) across the plot, labelled at its right end."""

    y: float
    label: str
    css_class: str


@dataclass(frozen=True)
class Table:
    caption: str
    columns: list[str]
    rows: list[list[Cell]]


@dataclass
class Chart:
    slug: str
    title: str
    desc: str
    x_label: str
    y_label: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    table: Table
    legend: list[tuple[str, str]]
    lines: list[Line] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    empty: bool = False
    width: int = WIDTH
    height: int = HEIGHT
    left: float = MARGIN_LEFT
    top: float = MARGIN_TOP
    right: float = WIDTH - MARGIN_RIGHT
    bottom: float = HEIGHT - MARGIN_BOTTOM

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def title_id(self) -> str:
        return f"chart-{self.slug}-title"

    @property
    def desc_id(self) -> str:
        return f"chart-{self.slug}-desc"

    @property
    def center_x(self) -> float:
        return _round((self.left + self.right) / 2)

    @property
    def center_y(self) -> float:
        return _round((self.top + self.bottom) / 2)

    @property
    def x_label_y(self) -> float:
        return self.height - 8

    @property
    def x_tick_end_y(self) -> float:
        return self.bottom + 4

    @property
    def x_tick_label_y(self) -> float:
        return self.bottom + 18

    @property
    def y_label_x(self) -> float:
        """Where the rotated y-axis title sits (in the rotated frame: x is minus the page y)."""
        return 16

    @property
    def y_tick_label_x(self) -> float:
        return self.left - 8


def _x_ticks(categories: Sequence[str], band: BandScale) -> list[Tick]:
    """A tick per category, labelled one in every n (counting back from the latest, which is always
    labelled) so that at most MAX_X_LABELS labels show."""
    every = max(math.ceil(len(categories) / MAX_X_LABELS), 1)
    last = len(categories) - 1
    return [
        Tick(_round(band.center(i)), label if (last - i) % every == 0 else "") for i, label in enumerate(categories)
    ]


def _y_axis(
    maximum: float, bottom: float, top: float, tick_format: Callable[[float], str], integer: bool
) -> tuple[LinearScale, list[Tick]]:
    values = nice_ticks(maximum, integer=integer)
    scale = LinearScale(0.0, values[-1], bottom, top)
    return scale, [Tick(_round(scale(v)), tick_format(v)) for v in values]


def _table(
    caption: str,
    x_label: str,
    categories: Sequence[str],
    series: Sequence[Series],
    extra: Sequence[Series] = (),
) -> Table:
    columns = [x_label, *(s.name for s in (*series, *extra))]
    rows = [
        [Cell(category), *(Cell(s.label(i), s.link(i)) for s in (*series, *extra))]
        for i, category in enumerate(categories)
    ]
    if not rows:
        rows = [[Cell(NO_DATA), *(Cell("—") for _ in (*series, *extra))]]
    return Table(caption=caption, columns=columns, rows=rows)


def _present(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def line_chart(
    *,
    slug: str,
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    tick_format: Callable[[float], str] = lambda v: f"{v:g}",
    rules: Sequence[tuple[float, str]] = (),
    table_categories: Sequence[str] | None = None,
    table_extra: Sequence[Series] = (),
) -> Chart:
    """Lines through each series' values, one point per category (gaps where a value is None), with
    optional horizontal reference lines (value, label). The y axis starts at 0 and ends at a round
    number above every value and rule."""
    chart = _frame(slug, title, desc, x_label, y_label, categories, series, table_categories, table_extra)
    values = [v for s in series for v in _present(s.values)]
    maximum = max([*values, *(value for value, _ in rules), 0.0])
    y, chart.y_ticks = _y_axis(maximum, chart.bottom, chart.top, tick_format, integer=False)
    band = BandScale(len(categories), chart.left, chart.right)
    chart.x_ticks = _x_ticks(categories, band)
    for s in series:
        commands: list[str] = []
        pen_down = False
        for i, value in enumerate(s.values):
            if value is None:
                pen_down = False
                continue
            x, y_pos = _round(band.center(i)), _round(y(value))
            commands.append(f"{'L' if pen_down else 'M'}{x:g},{y_pos:g}")
            pen_down = True
            chart.points.append(Point(x, y_pos, s.css_class, f"{categories[i]}: {s.name} {s.label(i)}"))
        if commands:
            chart.lines.append(Line(s.name, " ".join(commands), s.css_class))
    chart.rules = [Rule(_round(y(value)), label, "rule-target") for value, label in rules]
    return chart


def bar_chart(
    *,
    slug: str,
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    tick_format: Callable[[float], str] = lambda v: f"{v:g}",
    y_max: float | None = None,
    integer: bool = True,
    table_categories: Sequence[str] | None = None,
    table_extra: Sequence[Series] = (),
) -> Chart:
    """A bar per category, the series stacked in order (bottom first); one series is a plain bar
    chart. `y_max` fixes the top of the axis (100 for percentages), else a round number above the
    tallest stack."""
    chart = _frame(slug, title, desc, x_label, y_label, categories, series, table_categories, table_extra)
    stacks = [sum(s.values[i] or 0 for s in series) for i in range(len(categories))]
    maximum = y_max if y_max is not None else max([*stacks, 0.0])
    y, chart.y_ticks = _y_axis(maximum, chart.bottom, chart.top, tick_format, integer=integer)
    band = BandScale(len(categories), chart.left, chart.right)
    chart.x_ticks = _x_ticks(categories, band)
    bar_width = band.width * 0.6
    for i, category in enumerate(categories):
        base = 0.0
        for s in series:
            value = s.values[i]
            if not value:
                continue
            top_y, base_y = y(base + value), y(base)
            chart.bars.append(
                Bar(
                    x=_round(band.center(i) - bar_width / 2),
                    y=_round(top_y),
                    width=_round(bar_width),
                    height=_round(base_y - top_y),
                    css_class=s.css_class,
                    title=f"{category}: {s.name} {s.label(i)}",
                )
            )
            base += value
    return chart


def _frame(
    slug: str,
    title: str,
    desc: str,
    x_label: str,
    y_label: str,
    categories: Sequence[str],
    series: Sequence[Series],
    table_categories: Sequence[str] | None,
    table_extra: Sequence[Series],
) -> Chart:
    for s in (*series, *table_extra):
        if len(s.values) != len(categories):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(categories)} categories")
    empty = not any(_present(s.values) for s in series)
    return Chart(
        slug=slug,
        title=title,
        desc=desc,
        x_label=x_label,
        y_label=y_label,
        x_ticks=[],
        y_ticks=[],
        table=_table(title, x_label, table_categories or categories, series, table_extra),
        legend=[(s.name, s.css_class) for s in series],
        empty=empty,
    )
