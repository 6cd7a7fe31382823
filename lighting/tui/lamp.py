"""One lamp: search it by id, see its state, its level and power over the night as small
plots, its faults, and its last commands with their outcome.

The app fetches the lamp (``LampWanted``) and sets ``lamp``; it fetches it again when the
lamp speaks (a report, a fault), so the panel follows it live.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Input, Static

from lighting.overview import CommandView, LampView
from lighting.styles import SEVERITY_STYLE
from lighting.tui import format as fmt
from lighting.tui.messages import LampWanted
from lighting.tui.plot import Plot, Series
from lighting.tui.table import Cell, LiveTable, right

FAULT_COLUMNS = (("id", "Id"), ("kind", "Kind"), ("status", "Status"), ("opened", "Opened"))
COMMAND_COLUMNS = (
    ("id", "Id"),
    ("at", "Sent"),
    ("level", "Level"),
    ("outcome", "Outcome"),
    ("tries", "Tries"),
    ("ms", "ms"),
    ("reason", "Reason"),
)
OUTCOME_STYLE = {"acknowledged": "green", "pending": "yellow", "failed": "bold red"}


def state(lamp: LampView, tz: tzinfo | None) -> Text:
    """Who the lamp is, where, and how it is now."""
    text = Text()
    text.append(f"{lamp.lamp_id}", style="bold")
    text.append(f"  zone {lamp.zone}, cell {lamp.cell}, {lamp.wattage:.0f} W")
    text.append(f"  at {lamp.latitude:.5f}, {lamp.longitude:.5f}\n", style="dim")
    if lamp.in_contact:
        text.append("in contact", style="green")
    else:
        text.append("out of contact", style="bold red")
    text.append(f", last heard {fmt.clock(lamp.last_seen, tz, seconds=True)}")
    text.append(f"   level {fmt.level(lamp.level)}", style="bold")
    if lamp.desired_level is not None and lamp.desired_level != lamp.level:
        text.append(f" (wanted {fmt.level(lamp.desired_level)})", style="bold yellow")
    power = fmt.DASH if lamp.power_w is None else f"{lamp.power_w:.1f} W"
    text.append(f"   power {power}")
    return text


def histories(lamp: LampView, now: datetime | None, tz: tzinfo | None) -> tuple[Series, Series]:
    """The night's level and power as two series over the same span."""
    history = lamp.history
    if not history:
        empty = Series("Level", (), 0, 1, 100, "%")
        return empty, Series("Power", (), 0, 1, max(lamp.wattage, 1), "W")
    origin = history[0].at
    end_at = max(now or history[-1].at, history[-1].at)
    end = max((end_at - origin).total_seconds(), 1.0)
    left, right = fmt.clock(origin, tz), fmt.clock(end_at, tz)
    levels = tuple(((p.at - origin).total_seconds(), float(p.level)) for p in history)
    powers = tuple(((p.at - origin).total_seconds(), p.power_w) for p in history)
    top_power = max(lamp.wattage, *(p.power_w for p in history), 1.0)
    return (
        Series("Level tonight", levels, 0, end, 100, "%", left, right, "yellow"),
        Series("Power tonight", powers, 0, end, top_power, "W", left, right, "green"),
    )


def command_cells(command: CommandView, tz: tzinfo | None) -> tuple[Cell, ...]:
    latency = fmt.DASH if command.latency_ms is None else f"{command.latency_ms:.0f}"
    return (
        right(command.command_id),
        Text(fmt.clock(command.at, tz, seconds=True)),
        right(fmt.level(command.level)),
        Text(command.outcome, style=OUTCOME_STYLE.get(command.outcome, "")),
        right(command.attempts),
        right(latency),
        Text(command.reason + (f" ({command.error})" if command.error else "")),
    )


class LampPane(Vertical):
    """Set ``lamp`` (and ``now``, the city's time) and the panel shows it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]

    lamp: reactive[LampView | None] = reactive(None, always_update=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz: tzinfo | None = None
        self.now: datetime | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="lamp id, then Enter", id="lamp-search", compact=True)
        yield Static(Text("Search a lamp by its id (/)", style="dim"), id="lamp-state")
        with Horizontal(id="lamp-plots"):
            yield Plot(id="lamp-level")
            yield Plot(id="lamp-power")
        with Horizontal(id="lamp-tables"):
            yield LiveTable(FAULT_COLUMNS, id="lamp-faults")
            yield LiveTable(COMMAND_COLUMNS, id="lamp-commands")

    def focus_main(self) -> None:
        """The commands' table, even with no lamp yet: a field taking the keys would keep
        the panel keys (``1`` to ``6``) from working; ``/`` goes to the search field."""
        self.query_one("#lamp-commands", LiveTable).focus()

    def focus_search(self) -> None:
        search = self.query_one("#lamp-search", Input)
        search.focus()
        search.select_all()

    @on(Input.Submitted, "#lamp-search")
    def _searched(self, event: Input.Submitted) -> None:
        event.stop()
        wanted = event.value.strip()
        # The field empties and hands the keys back, so that ``/`` searches again.
        event.input.clear()
        self.query_one("#lamp-commands", LiveTable).focus()
        if wanted:
            self.post_message(LampWanted(wanted))

    def watch_lamp(self, lamp: LampView | None) -> None:
        if lamp is None:
            return
        tz = self.tz
        self.query_one("#lamp-state", Static).update(state(lamp, tz))
        level, power = histories(lamp, self.now, tz)
        self.query_one("#lamp-level", Plot).series = level
        self.query_one("#lamp-power", Plot).series = power
        self.query_one("#lamp-faults", LiveTable).show(
            {
                str(fault.fault_id): (
                    right(fault.fault_id),
                    Text(fault.kind.slug, style=SEVERITY_STYLE[fault.severity]),
                    fmt.status(fault.status),
                    Text(fmt.clock(fault.opened_at, tz)),
                )
                for fault in lamp.faults
            }
        )
        self.query_one("#lamp-commands", LiveTable).show(
            {str(c.command_id): command_cells(c, tz) for c in lamp.commands}
        )

    def action_reload(self) -> None:
        if self.lamp is not None:
            self.post_message(LampWanted(self.lamp.lamp_id))
