"""Tonight: the sun times, each zone's program and next change with the time until it, a
timeline of the night, and the overrides in force (which the operator can cancel).

The snapshot tells each zone's next change only (not the whole night's plan), so the
timeline shows the night from sunset to sunrise with where it stands now, each zone's next
change and the overrides' spans.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from lighting.overview import CityView, OverrideView
from lighting.tui import format as fmt
from lighting.tui.messages import CancelWanted
from lighting.tui.table import Cell, LiveTable, right

ZONE_COLUMNS = (
    ("zone", "Zone"),
    ("program", "Program"),
    ("now", "Now"),
    ("at", "Next at"),
    ("next", "To"),
    ("in", "In"),
)
OVERRIDE_COLUMNS = (
    ("id", "Id"),
    ("target", "Target"),
    ("level", "Level"),
    ("until", "Until"),
    ("left", "Left"),
    ("by", "By"),
    ("reason", "Reason"),
)
PAST, FUTURE, NOW, NEXT, HELD = "━", "─", "│", "◆", "▓"


def sun_line(view: CityView, tz: tzinfo | None) -> Text:
    line = Text()
    line.append(f"Sunset {fmt.clock(view.sunset, tz)}", style="bold")
    line.append(f"   Sunrise {fmt.clock(view.sunrise, tz)}", style="bold")
    if view.sunset is not None and view.sunrise is not None:
        line.append(f"   night of {fmt.span(view.sunrise - view.sunset)}")
        if view.sunset <= view.at <= view.sunrise:
            line.append(f", {fmt.span(view.sunrise - view.at)} to go")
    line.append(f"   now {fmt.clock(view.at, tz)} ({view.timezone})", style="dim")
    return line


def _target(override: OverrideView) -> str:
    return f"zone {override.zone}" if override.zone is not None else f"lamp {override.lamp_id}"


def override_cells(override: OverrideView, now: datetime, tz: tzinfo | None) -> tuple[Cell, ...]:
    return (
        right(override.override_id),
        Text(_target(override)),
        right(fmt.level(override.level), "bold yellow"),
        Text(fmt.clock(override.end, tz)),
        right(fmt.span(override.end - now)),
        Text(override.by),
        Text(override.reason),
    )


def night_span(view: CityView) -> tuple[datetime, datetime]:
    """The timeline's ends: sunset to sunrise, or twelve hours around now without them."""
    if view.sunset is not None and view.sunrise is not None and view.sunrise > view.sunset:
        return view.sunset, view.sunrise
    return view.at - timedelta(hours=6), view.at + timedelta(hours=6)


def timeline(view: CityView, tz: tzinfo | None, width: int) -> Text:
    """One row per zone over the night: past and future, now, the next change (with its
    level after the row) and the overrides held on the zone; the axis under them."""
    start, end = night_span(view)
    gutter = max((len(zone.zone) for zone in view.zones), default=4) + 1
    suffix = 8
    cols = max(width - gutter - suffix, 10)
    step = (end - start) / cols

    def column(instant: datetime) -> int | None:
        index = int((instant - start) / step)
        return index if 0 <= index < cols else None

    now_col = column(view.at)
    lines = []
    for zone in view.zones:
        row = [PAST if start + step * (i + 1) <= view.at else FUTURE for i in range(cols)]
        styles = ["dim" if cell == PAST else "" for cell in row]
        for override in view.overrides:
            if override.zone != zone.zone:
                continue
            for i in range(cols):
                middle = start + step * (i + 0.5)
                if override.start <= middle < override.end:
                    row[i], styles[i] = HELD, "yellow"
        if now_col is not None:
            row[now_col], styles[now_col] = NOW, "bold"
        nxt = column(zone.next_change_at) if zone.next_change_at is not None else None
        if nxt is not None:
            row[nxt], styles[nxt] = NEXT, "bold cyan"
        line = Text(zone.zone.ljust(gutter))
        for cell, style in zip(row, styles, strict=True):
            line.append(cell, style=style)
        if zone.next_level is not None and zone.next_change_at is not None:
            line.append(f" {fmt.level(zone.next_level)}".ljust(suffix), style="cyan")
        lines.append(line)
    left, right = fmt.clock(start, tz), fmt.clock(end, tz)
    axis = " " * gutter + left + right.rjust(cols - len(left))
    lines.append(Text(axis, style="dim"))
    return Text("\n").join(lines)


class Timeline(Widget):
    """The night's timeline, drawn to the width it is given."""

    city: reactive[CityView | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz: tzinfo | None = None

    def render(self) -> Text:
        if self.city is None:
            return Text("")
        return timeline(self.city, self.tz, self.content_size.width)


class TonightPane(VerticalScroll):
    """Set ``city`` and the panel updates in place; ``x`` cancels the override under the
    cursor (the app asks for a confirmation)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("x", "cancel_override", "Cancel override")]

    city: reactive[CityView | None] = reactive(None, always_update=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz: tzinfo | None = None
        self._overrides: dict[str, OverrideView] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="sun")
        yield LiveTable(ZONE_COLUMNS, id="tonight-zones")
        yield Static("Timeline", classes="title")
        yield Timeline(id="timeline")
        yield Static("Overrides in force", classes="title")
        yield LiveTable(OVERRIDE_COLUMNS, id="overrides")

    def focus_main(self) -> None:
        self.query_one("#overrides", LiveTable).focus()

    @property
    def zone(self) -> str | None:
        """The zone under the cursor of the zones' table."""
        return self.query_one("#tonight-zones", LiveTable).cursor_key

    def watch_city(self, view: CityView | None) -> None:
        if view is None:
            return
        tz = self.tz
        self.query_one("#sun", Static).update(sun_line(view, tz))
        rows = {
            zone.zone: (
                Text(zone.zone),
                Text(zone.program),
                right(fmt.level(zone.level_planned)),
                Text(fmt.clock(zone.next_change_at, tz)),
                right(fmt.level(zone.next_level)),
                right(fmt.span(zone.next_change_at - view.at) if zone.next_change_at else fmt.DASH),
            )
            for zone in view.zones
        }
        self.query_one("#tonight-zones", LiveTable).show(rows)
        timeline_widget = self.query_one(Timeline)
        timeline_widget.tz = tz
        timeline_widget.city = view
        self._overrides = {str(o.override_id): o for o in view.overrides}
        self.query_one("#overrides", LiveTable).show(
            {key: override_cells(o, view.at, tz) for key, o in self._overrides.items()}
        )

    def action_cancel_override(self) -> None:
        key = self.query_one("#overrides", LiveTable).cursor_key
        override = self._overrides.get(key) if key is not None else None
        if override is None:
            self.notify("No override in force to cancel", severity="warning")
            return
        self.post_message(CancelWanted(override))
