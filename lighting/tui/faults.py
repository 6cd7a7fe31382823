"""The fault feed: faults (and incidents) opened, acknowledged and resolved, newest first,
filtered by zone, kind, severity and status; ``a`` acknowledges the fault under the cursor.

The feed is loaded from the daemon when the filters change (or the daemon comes back) and
then follows its notices live; each fault is one row, moved to the top when it changes.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Select, Static
from textual.widgets.select import NoSelection

from lighting.model import FaultKind, Severity
from lighting.notices import FaultNotice, IncidentNotice
from lighting.styles import SEVERITY_STYLE
from lighting.tui import format as fmt
from lighting.tui.messages import AcknowledgeWanted, FaultsWanted, LampWanted
from lighting.tui.table import Cell, LiveTable, right

FEED_SIZE = 500
"""Faults kept in the feed (the newest); the daemon answers at most as many at once."""
STATUSES = (
    ("any status", "all"),
    ("active", "active"),
    ("open", "open"),
    ("acknowledged", "acknowledged"),
    ("resolved", "resolved"),
)
"""Shown, and asked of the daemon."""
COLUMNS = (
    ("id", "Id"),
    ("time", "Time"),
    ("kind", "Kind"),
    ("lamp", "Lamp"),
    ("zone", "Zone"),
    ("status", "Status"),
    ("count", "N"),
    ("by", "By"),
)

Item = FaultNotice | IncidentNotice
_FILTERS = Binding.Group("Filter", compact=True)


def item_key(item: Item) -> str:
    if isinstance(item, FaultNotice):
        return f"f{item.fault_id}"
    return f"i{item.incident_id}"


def item_cells(item: Item, tz: tzinfo | None) -> tuple[Cell, ...]:
    style = SEVERITY_STYLE[item.severity]
    if isinstance(item, FaultNotice):
        ident, lamp, zone, count = str(item.fault_id), item.lamp_id, item.zone, str(item.count)
    else:
        ident, lamp, zone, count = f"i{item.incident_id}", f"{item.lamps} lamps", "", ""
        zone = ",".join(item.zones)
    return (
        right(ident),
        Text(fmt.clock(item.at, tz)),
        Text(item.kind.slug, style=style),
        Text(lamp),
        Text(zone),
        fmt.status(item.status),
        right(count),
        Text(item.by or ""),
    )


def detail(item: Item, tz: tzinfo | None) -> Text:
    """The row under the cursor in full."""
    line = Text()
    style = SEVERITY_STYLE[item.severity]
    if isinstance(item, FaultNotice):
        line.append(f"fault {item.fault_id} ", style="bold")
        line.append(f"{item.kind.slug} ({item.severity})", style=style)
        line.append(f" on lamp {item.lamp_id} in {item.zone}, from the {item.source}; ")
        line.append(f"opened {fmt.clock(item.opened_at, tz, seconds=True)}, seen {item.count}x")
        if item.incident_id is not None:
            line.append(f", in incident {item.incident_id}")
    else:
        line.append(f"incident {item.incident_id} ", style="bold")
        line.append(f"{item.kind.slug} ({item.severity})", style=style)
        line.append(f": {item.lamps} lamps in cell {item.cell} ({', '.join(item.zones)}); ")
        line.append(f"opened {fmt.clock(item.opened_at, tz, seconds=True)}")
    line.append(f"; {item.event} {fmt.clock(item.at, tz, seconds=True)}")
    if item.by:
        line.append(f" by {item.by}")
    if item.note:
        line.append(f": {item.note}")
    if isinstance(item, FaultNotice) and item.detail:
        line.append(f" ({item.detail})", style="dim")
    return line


class FaultsPane(Vertical):
    """The feed; ``load`` replaces it, ``add`` brings notices in."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "acknowledge", "Acknowledge"),
        Binding("l", "open_lamp", "Lamp"),
        Binding("z", "filter('zone')", "Zone", group=_FILTERS),
        Binding("k", "filter('kind')", "Kind", group=_FILTERS),
        Binding("s", "filter('severity')", "Severity", group=_FILTERS),
        Binding("t", "filter('status')", "Status", group=_FILTERS),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tz: tzinfo | None = None
        self._items: dict[str, Item] = {}
        self._zones: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        with Horizontal(id="fault-filters"):
            yield Select[str]((), prompt="any zone", id="filter-zone", compact=True)
            yield Select[str](
                [(kind.slug, kind.slug) for kind in FaultKind],
                prompt="any kind",
                id="filter-kind",
                compact=True,
            )
            yield Select[str](
                [(str(s), str(s)) for s in Severity],
                prompt="any severity",
                id="filter-severity",
                compact=True,
            )
            yield Select[str](
                STATUSES,
                value="all",
                allow_blank=False,
                id="filter-status",
                compact=True,
            )
        yield LiveTable(COLUMNS, id="feed")
        yield Static(id="fault-detail")

    def focus_main(self) -> None:
        self.query_one("#feed", LiveTable).focus()

    # -- filters --------------------------------------------------------------------------

    def _choice(self, name: str) -> str | None:
        value = self.query_one(f"#filter-{name}", Select).value
        return None if isinstance(value, NoSelection) else str(value)

    @property
    def wanted(self) -> FaultsWanted:
        """The request for the feed as filtered now."""
        return FaultsWanted(
            zone=self._choice("zone"),
            kind=self._choice("kind"),
            severity=self._choice("severity"),
            status=self._choice("status") or "all",
        )

    def set_zones(self, zones: tuple[str, ...]) -> None:
        """The zones to filter by (from the city); kept if they did not change."""
        if zones != self._zones:
            self._zones = zones
            self.query_one("#filter-zone", Select).set_options((z, z) for z in zones)

    def matches(self, item: Item) -> bool:
        wanted = self.wanted
        zones = (item.zone,) if isinstance(item, FaultNotice) else item.zones
        statuses = {
            "all": None,
            "active": ("open", "acknowledged"),
        }.get(wanted.status, (wanted.status,))
        return (
            (wanted.zone is None or wanted.zone in zones)
            and (wanted.kind is None or item.kind.slug == wanted.kind)
            and (wanted.severity is None or str(item.severity) == wanted.severity)
            and (statuses is None or item.status in statuses)
        )

    @on(Select.Changed)
    def _filters_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.wanted)

    def action_filter(self, name: str) -> None:
        select = self.query_one(f"#filter-{name}", Select)
        select.focus()
        select.action_show_overlay()

    # -- the feed -------------------------------------------------------------------------

    def load(self, faults: list[FaultNotice]) -> None:
        """The feed as the daemon gave it (filtered), replacing what was shown."""
        self._items = {item_key(fault): fault for fault in faults}
        self._show()

    def add(self, items: tuple[Item, ...]) -> None:
        """Notices that arrived (oldest first); those the filters take go to the top."""
        for item in items:
            if self.matches(item):
                self._items[item_key(item)] = item
            else:
                self._items.pop(item_key(item), None)
        self._show()

    def latest(self, count: int) -> tuple[Item, ...]:
        return tuple(self._ordered()[:count])

    def _ordered(self) -> list[Item]:
        return sorted(self._items.values(), key=lambda item: (item.at, item_key(item)))[::-1]

    def _show(self) -> None:
        ordered = self._ordered()
        for item in ordered[FEED_SIZE:]:
            del self._items[item_key(item)]
        rows = {item_key(item): item_cells(item, self.tz) for item in ordered[:FEED_SIZE]}
        self.query_one("#feed", LiveTable).show(rows)
        self._show_detail()

    @property
    def current(self) -> Item | None:
        key = self.query_one("#feed", LiveTable).cursor_key
        return self._items.get(key) if key is not None else None

    @on(DataTable.RowHighlighted, "#feed")
    def _show_detail(self) -> None:
        item = self.current
        shown = detail(item, self.tz) if item is not None else Text("no fault", style="dim")
        self.query_one("#fault-detail", Static).update(shown)

    # -- actions --------------------------------------------------------------------------

    def action_acknowledge(self) -> None:
        item = self.current
        if item is None:
            self.notify("No fault under the cursor", severity="warning")
        elif isinstance(item, IncidentNotice):
            self.notify(
                f"Incident {item.incident_id} is acknowledged with `lighting incidents ack "
                f"{item.incident_id} --by NAME` (not over the control channel)",
                severity="warning",
            )
        else:
            self.post_message(AcknowledgeWanted(item))

    @on(DataTable.RowSelected, "#feed")
    def _row_chosen(self) -> None:
        self.action_open_lamp()

    def action_open_lamp(self) -> None:
        item = self.current
        if isinstance(item, FaultNotice):
            self.post_message(LampWanted(item.lamp_id))
