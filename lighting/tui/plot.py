"""Small plain-text plots: a series drawn as bars in eighths of a cell, sized to its widget.

``sample`` and ``chart`` are pure (values in, text out) and tested as such; ``Plot`` is the
widget that draws a ``Series`` at whatever size the layout gives it, so that a large
terminal gets a finer plot and an 80x24 one still gets a readable one.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

EIGHTHS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True, slots=True)
class Series:
    """Points ``(x, y)`` (x ascending) to draw between ``start`` and ``end``, up to ``top``.

    Each point holds until the next one: a lamp's level stays until it reports another,
    a night's energy fills the width of that night.
    """

    title: str
    points: tuple[tuple[float, float], ...]
    start: float
    end: float
    top: float
    unit: str = ""
    left: str = ""
    """Label under the left end of the x axis."""
    right: str = ""
    style: str = "green"


def sample(
    points: Sequence[tuple[float, float]], start: float, end: float, width: int
) -> list[float | None]:
    """The series seen by ``width`` columns: each column takes the value in force at its
    middle (the last point at or before it); None before the first point."""
    if width <= 0 or end <= start:
        return []
    xs = [x for x, _ in points]
    step = (end - start) / width
    found: list[float | None] = []
    for column in range(width):
        middle = start + (column + 0.5) * step
        index = bisect.bisect_right(xs, middle) - 1
        found.append(points[index][1] if index >= 0 else None)
    return found


def bars(values: Sequence[float | None], height: int, top: float) -> list[str]:
    """Rows of a bar chart, the top row first; each value a column of ``height`` cells."""
    rows: list[str] = []
    for row in range(height):
        floor = (height - 1 - row) * 8
        cells = []
        for value in values:
            if value is None or top <= 0:
                cells.append(" ")
                continue
            eighths = round(min(max(value, 0.0), top) / top * height * 8)
            filled = min(max(eighths - floor, 0), 8)
            cells.append(EIGHTHS[filled])
        rows.append("".join(cells))
    return rows


def _label(value: float, unit: str) -> str:
    shown = f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
    return f"{shown} {unit}".strip()


def chart(series: Series, width: int, height: int) -> Text:
    """``series`` in ``width`` x ``height`` cells: a title, the bars with their scale on the
    left, and the x axis's two ends under them."""
    title = Text(series.title, style="bold")
    if height < 3 or width < 10:
        return title
    top_label, zero_label = _label(series.top, series.unit), _label(0, series.unit)
    gutter = max(len(top_label), len(zero_label))
    plot_width = width - gutter - 1
    rows = bars(sample(series.points, series.start, series.end, plot_width), height - 2, series.top)
    lines = [title]
    for index, row in enumerate(rows):
        label = top_label if index == 0 else zero_label if index == len(rows) - 1 else ""
        line = Text(f"{label:>{gutter}}▕", style="dim")
        line.append(row, style=series.style)
        lines.append(line)
    axis = series.left + series.right.rjust(max(plot_width - len(series.left), 0))
    lines.append(Text(" " * (gutter + 1) + axis[:plot_width], style="dim"))
    return Text("\n").join(lines)


class Plot(Widget):
    """Draws its ``series`` to fit its size; a placeholder text while there is none."""

    series: reactive[Series | None] = reactive(None)
    """What to draw; setting an equal series redraws nothing."""
    placeholder: reactive[str] = reactive("")

    def render(self) -> RenderResult:
        width, height = self.content_size
        if self.series is None:
            return Text(self.placeholder, style="dim")
        return chart(self.series, width, height)
