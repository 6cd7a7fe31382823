"""Energy: per zone and per night over the last weeks, against the same lamps at full power,
as a table of totals and one bar plot per zone (a bar a night, full height = full power).

Energy changes slowly: the app asks for it when the panel is shown, when the operator asks
(``r``, or more or fewer nights) and every minute while it is shown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from lighting.overview import EnergyNight
from lighting.tui import format as fmt
from lighting.tui.messages import EnergyWanted
from lighting.tui.plot import Plot, Series
from lighting.tui.table import Cell, LiveTable, right

DEFAULT_NIGHTS = 28
FEWEST_NIGHTS = 7
MOST_NIGHTS = 91
"""The daemon answers at most 92 nights."""
COLUMNS = (
    ("zone", "Zone"),
    ("nights", "Nights"),
    ("energy", "kWh"),
    ("baseline", "Full kWh"),
    ("saving", "Save"),
    ("last", "Last night"),
)


def _saving(energy: float, baseline: float) -> float | None:
    return 100 * (1 - energy / baseline) if baseline > 0 else None


def by_zone(nights: Sequence[EnergyNight]) -> dict[str, list[EnergyNight]]:
    """The nights of each zone, oldest first, zones in the order the daemon gave them."""
    found: defaultdict[str, list[EnergyNight]] = defaultdict(list)
    for night in nights:
        found[night.zone].append(night)
    return {zone: sorted(items, key=lambda n: n.night) for zone, items in found.items()}


def zone_cells(zone: str, nights: list[EnergyNight]) -> tuple[Cell, ...]:
    energy = sum(n.energy_kwh for n in nights)
    baseline = sum(n.baseline_kwh for n in nights)
    return (
        Text(zone),
        right(len(nights)),
        right(fmt.number(energy)),
        right(fmt.number(baseline)),
        right(fmt.percent(_saving(energy, baseline))),
        right(fmt.number(nights[-1].energy_kwh if nights else None)),
    )


def zone_series(zone: str, nights: list[EnergyNight], first: date, count: int) -> Series:
    """A bar a night from ``first`` for ``count`` nights; full height is the zone's fullest
    night at full power."""
    points = tuple((float((night.night - first).days), night.energy_kwh) for night in nights)
    top = max((n.baseline_kwh for n in nights), default=0.0) or max(
        (n.energy_kwh for n in nights), default=1.0
    )
    energy = sum(n.energy_kwh for n in nights)
    saving = fmt.percent(_saving(energy, sum(n.baseline_kwh for n in nights)))
    last = first + timedelta(days=count - 1)
    return Series(
        f"{zone}: {energy:.1f} kWh, saving {saving}",
        points,
        0,
        count,
        max(top, 0.001),
        "kWh",
        first.strftime("%m-%d"),
        last.strftime("%m-%d"),
        "green",
    )


class EnergyPane(Vertical):
    """Set ``nights`` (what the daemon answered for ``span`` nights) and the panel shows it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload"),
        Binding("left_square_bracket", "span(-7)", "Fewer", key_display="["),
        Binding("right_square_bracket", "span(7)", "More", key_display="]"),
    ]

    nights: reactive[tuple[EnergyNight, ...] | None] = reactive(None, always_update=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.span = DEFAULT_NIGHTS
        self._plots: dict[str, Plot] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="energy-title")
        yield LiveTable(COLUMNS, id="energy-zones")
        yield VerticalScroll(id="energy-plots")

    def on_mount(self) -> None:
        self._title("asking the daemon...")

    def focus_main(self) -> None:
        self.query_one("#energy-zones", LiveTable).focus()

    def _title(self, note: str = "") -> None:
        text = Text(f"Energy per night, the last {self.span} nights", style="bold")
        if note:
            text.append(f"  {note}", style="dim")
        self.query_one("#energy-title", Static).update(text)

    def watch_nights(self, nights: tuple[EnergyNight, ...] | None) -> None:
        if nights is None:
            return
        zones = by_zone(nights)
        if not zones:
            self._title("no energy recorded yet")
        else:
            self._title()
        self.query_one("#energy-zones", LiveTable).show(
            {zone: zone_cells(zone, items) for zone, items in zones.items()}
        )
        last = max((n.night for n in nights), default=None)
        if last is None:
            return
        first = last - timedelta(days=self.span - 1)
        box = self.query_one("#energy-plots", VerticalScroll)
        for zone, items in zones.items():
            plot = self._plots.get(zone)
            if plot is None:
                plot = self._plots[zone] = Plot(classes="energy-plot")
                box.mount(plot)
            plot.series = zone_series(zone, items, first, self.span)

    def action_reload(self) -> None:
        self._title("asking the daemon...")
        self.post_message(EnergyWanted(self.span))

    def action_span(self, change: int) -> None:
        self.span = min(max(self.span + change, FEWEST_NIGHTS), MOST_NIGHTS)
        self.action_reload()
