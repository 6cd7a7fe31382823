"""The city at a glance: per zone the lamps, how many are lit, the level in force and the
level planned, lamps out of contact, open faults by severity, power now, energy tonight and
the saving against full power; with the whole city's line under them.

On a wide terminal a side column adds what comes next tonight and the latest faults.
"""

from __future__ import annotations

from datetime import tzinfo

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Static

from lighting.notices import FaultNotice, IncidentNotice
from lighting.overview import CityView, ZoneView
from lighting.tui import format as fmt
from lighting.tui.table import Cell, LiveTable, right

CITY_ROW = "(city)"
"""The key and label of the whole city's row (zone names are identifiers: no parentheses)."""

COLUMNS = (
    ("zone", "Zone"),
    ("lamps", "Lamps"),
    ("lit", "Lit"),
    ("level", "Level"),
    ("plan", "Plan"),
    ("silent", "Silent"),
    ("faults", "Faults"),
    ("power", "kW"),
    ("energy", "kWh"),
    ("saving", "Save"),
)


def zone_cells(zone: ZoneView) -> tuple[Cell, ...]:
    """One zone's row; the level in force is marked when it is not the level planned."""
    differs = zone.level_in_force is not None and zone.level_in_force != zone.level_planned
    return (
        Text(zone.zone),
        right(zone.lamps),
        right(zone.lit),
        right(fmt.level(zone.level_in_force), "bold yellow" if differs else ""),
        right(fmt.level(zone.level_planned)),
        right(zone.out_of_contact, "bold red" if zone.out_of_contact else ""),
        fmt.severity_counts(zone.faults),
        right(fmt.kilowatts(zone.power_w)),
        right(fmt.number(zone.energy_tonight_kwh)),
        right(fmt.percent(zone.saving_pct)),
    )


def city_cells(view: CityView) -> tuple[Cell, ...]:
    """The whole city's row: sums, and the saving of the sums."""
    faults: dict[str, int] = {}
    for zone in view.zones:
        for severity, count in zone.faults.items():
            faults[severity] = faults.get(severity, 0) + count
    energy = sum(zone.energy_tonight_kwh for zone in view.zones)
    baseline = sum(zone.baseline_tonight_kwh for zone in view.zones)
    saving = 100 * (1 - energy / baseline) if baseline > 0 else None
    return (
        Text(CITY_ROW, style="bold"),
        right(view.lamps, "bold"),
        right(view.lit, "bold"),
        right(""),
        right(""),
        right(sum(z.out_of_contact for z in view.zones), "bold"),
        fmt.severity_counts(faults),
        right(fmt.kilowatts(view.power_w), "bold"),
        right(fmt.number(energy), "bold"),
        right(fmt.percent(saving), "bold"),
    )


def headline(view: CityView) -> Text:
    """The city in one line (two on a narrow terminal)."""
    faults = sum(sum(zone.faults.values()) for zone in view.zones)
    silent = sum(zone.out_of_contact for zone in view.zones)
    line = Text()
    line.append(view.site, style="bold")
    line.append(f"  {fmt.count(view.lamps, 'lamp')}, {view.lit} lit")
    if silent:
        line.append(f", {silent} silent", style="bold red")
    line.append(f"  {fmt.kilowatts(view.power_w)} kW now  ")
    line.append(fmt.count(faults, "open fault"), style="bold red" if faults else "")
    line.append(
        f"  {fmt.count(view.incidents, 'incident')}", style="bold red" if view.incidents else ""
    )
    if view.overrides:
        line.append(f"  {fmt.count(len(view.overrides), 'override')}", style="bold yellow")
    return line


def coming(view: CityView, tz: tzinfo | None) -> Text:
    """Each zone's next change, soonest first."""
    lines = [Text("Next changes", style="bold")]
    upcoming = sorted(
        (zone.next_change_at, zone.zone, zone.next_level)
        for zone in view.zones
        if zone.next_change_at is not None
    )
    for at, name, level in upcoming:
        wait = fmt.span(at - view.at)
        lines.append(Text(f"{fmt.clock(at, tz)} {name} to {fmt.level(level)} (in {wait})"))
    if not upcoming:
        lines.append(Text("no change left tonight", style="dim"))
    return Text("\n").join(lines)


def latest(notices: tuple[FaultNotice | IncidentNotice, ...], tz: tzinfo | None) -> Text:
    lines = [Text("Latest faults", style="bold")]
    for notice in notices:
        if isinstance(notice, FaultNotice):
            lines.append(fmt.fault_line(notice, tz))
        else:
            lines.append(fmt.incident_line(notice, tz))
    if not notices:
        lines.append(Text("none", style="dim"))
    return Text("\n").join(lines)


class CityPane(Vertical):
    """Set ``city`` (and ``latest``) and the panel updates its cells in place."""

    city: reactive[CityView | None] = reactive(None, always_update=True)
    latest: reactive[tuple[FaultNotice | IncidentNotice, ...]] = reactive(())
    note: reactive[str] = reactive("")
    """Shown while there is no city yet (waiting for the daemon)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz: tzinfo | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="city-headline")
        with Horizontal(id="city-body"):
            yield LiveTable(COLUMNS, id="zones")
            with Vertical(id="city-side"):
                yield Static(id="city-next")
                yield Static(id="city-latest")

    @property
    def zone(self) -> str | None:
        """The zone under the cursor (None on the city's row or before any city)."""
        key = self.query_one("#zones", LiveTable).cursor_key
        return None if key in (None, CITY_ROW) else key

    def focus_main(self) -> None:
        self.query_one("#zones", LiveTable).focus()

    def watch_note(self, note: str) -> None:
        if self.city is None:
            self.query_one("#city-headline", Static).update(Text(note, style="bold yellow"))

    def watch_city(self, view: CityView | None) -> None:
        if view is None:
            return
        rows = {zone.zone: zone_cells(zone) for zone in view.zones}
        rows[CITY_ROW] = city_cells(view)
        self.query_one("#zones", LiveTable).show(rows)
        self.query_one("#city-headline", Static).update(headline(view))
        self.query_one("#city-next", Static).update(coming(view, self.tz))

    def watch_latest(self, notices: tuple[FaultNotice | IncidentNotice, ...]) -> None:
        self.query_one("#city-latest", Static).update(latest(notices, self.tz))
