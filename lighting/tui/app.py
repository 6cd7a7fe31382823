"""``Dashboard``: the operator's terminal view of the city, over the daemon's control channel.

The app is the frame (a status line, six panels in tabs, the footer of keys) and the only
part that talks to the daemon, through ``ControlClient`` in workers: the ``Link`` worker
keeps the snapshot and the notices coming; each request (a lamp, the faults, the energy, an
order) runs in a worker of its own, so that the screen never waits for the daemon. What the
daemon says goes down to the panels as attributes; what the operator wants comes up from
them as messages. Any refusal or a missing daemon is told to the operator, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.notifications import SeverityLevel
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from lighting.client import ControlClient
from lighting.errors import LightingError
from lighting.notices import OPENED, REOPENED
from lighting.overview import CityView, OverrideView
from lighting.tui import format as fmt
from lighting.tui.delivery import DeliveryPane
from lighting.tui.dialogs import ConfirmDialog, OverrideDialog
from lighting.tui.energy import EnergyPane
from lighting.tui.faults import FaultsPane
from lighting.tui.lamp import LampPane
from lighting.tui.link import Link
from lighting.tui.messages import (
    AcknowledgeWanted,
    CancelWanted,
    CityUpdated,
    Connected,
    EnergyWanted,
    FaultsWanted,
    LampSpoke,
    LampWanted,
    Lost,
    NoticesArrived,
    Waiting,
)
from lighting.tui.overview import CityPane
from lighting.tui.tonight import TonightPane

log = logging.getLogger(__name__)
_T = TypeVar("_T")

LAMP_REFRESH_S = 5.0
"""A lamp shown is asked for again this often (its commands change without a notice)."""
ENERGY_REFRESH_S = 60.0
LATEST_FAULTS = 8
"""Faults in the city panel's side column (wide terminals)."""
WIDE = 120
DIALOG_FREE = frozenset({"show", "override", "search", "leave"})
"""Actions of the main screen, off while a dialog is open."""
_SCREENS = Binding.Group("Screens", compact=True)


@runtime_checkable
class Panel(Protocol):
    """What every panel does: put the keys on its main table (or field) when shown."""

    def focus_main(self) -> None: ...


class StatusLine(Horizontal):
    """Where the dashboard stands with the daemon (left), the city and its time (right)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._state = ""

    def compose(self) -> ComposeResult:
        yield Static(id="status-text", markup=False)
        yield Static(id="status-clock", markup=False)

    def tell(self, state: str, text: str) -> None:
        """``state`` is waiting, connected or lost (each has its colour)."""
        self.remove_class(f"-{self._state}")
        self._state = state
        self.add_class(f"-{state}")
        self.query_one("#status-text", Static).update(text)

    def clock(self, text: str) -> None:
        self.query_one("#status-clock", Static).update(text)


class Dashboard(App[None]):
    """The dashboard of the daemon at ``socket``; orders are given in the name of ``by``.

    Its only clock is the daemon's: the time shown is that of the latest snapshot, so a
    daemon run on a fixed clock gives the same screen every time (tests/tui/test_snapshot.py).
    """

    CSS_PATH = "dashboard.tcss"
    TITLE = "citylight"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]  # noqa: RUF012 - textual's type
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('city')", "City", group=_SCREENS),
        Binding("2", "show('tonight')", "Tonight", group=_SCREENS),
        Binding("3", "show('faults')", "Faults", group=_SCREENS),
        Binding("4", "show('lamp')", "Lamp", group=_SCREENS),
        Binding("5", "show('delivery')", "Delivery", group=_SCREENS),
        Binding("6", "show('energy')", "Energy", group=_SCREENS),
        Binding("o", "override", "Override"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("escape", "leave", "Back"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, socket: Path | str, *, by: str) -> None:
        super().__init__()
        self.by = by
        self.link = Link(Path(socket), self.post_message)
        self.city: CityView | None = None
        self._zones: tuple[str, ...] = ()
        self._timezone = ""

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        with TabbedContent(initial="city", id="tabs"):
            with TabPane("1 City", id="city"):
                yield CityPane(id="city-pane")
            with TabPane("2 Tonight", id="tonight"):
                yield TonightPane(id="tonight-pane")
            with TabPane("3 Faults", id="faults"):
                yield FaultsPane(id="faults-pane")
            with TabPane("4 Lamp", id="lamp"):
                yield LampPane(id="lamp-pane")
            with TabPane("5 Delivery", id="delivery"):
                yield DeliveryPane(id="delivery-pane")
            with TabPane("6 Energy", id="energy"):
                yield EnergyPane(id="energy-pane")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.run_worker(self.link.run(), name="link", group="link", exclusive=True)
        self.set_interval(LAMP_REFRESH_S, self._refresh_lamp)
        self.set_interval(ENERGY_REFRESH_S, self._refresh_energy)
        self.query_one(CityPane).focus_main()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Tell the operator (never as markup: ids and reasons are shown as they are), and
        log it, so that what the operator was told can be read again."""
        level = logging.WARNING if severity == "error" else logging.INFO
        log.log(level, "told the operator: %s%s", f"{title}: " if title else "", message)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # -- the panels -----------------------------------------------------------------------

    @property
    def active(self) -> str:
        return self.query_one(TabbedContent).active

    def _status(self, state: str, text: str) -> None:
        self.query_one(StatusLine).tell(state, text)

    def action_show(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        self._focus_pane(pane)

    def _focus_pane(self, pane: str) -> None:
        panel = self.query_one(f"#{pane}-pane")
        if isinstance(panel, Panel):
            panel.focus_main()

    def action_leave(self) -> None:
        self._focus_pane(self.active)

    def action_search(self) -> None:
        self.query_one(TabbedContent).active = "lamp"
        self.query_one(LampPane).focus_search()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if len(self.screen_stack) > 1:  # while a dialog is open its keys are the only ones
            return action not in DIALOG_FREE
        if action == "leave":  # shown (and useful) only when typing in a field
            return isinstance(self.focused, Input)
        return True

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane.id or ""
        if pane == "energy":
            self._refresh_energy()
        elif pane == "lamp":
            self._refresh_lamp()

    # -- what the link says ---------------------------------------------------------------
    # Each handler first checks that the app runs: while it closes, its panels are being
    # removed, and news from the daemon still in the queue has nowhere to go.

    def on_waiting(self, message: Waiting) -> None:
        if not self.is_running:
            return
        text = f"waiting for the daemon at {message.path}"
        if message.reason:
            text += f" ({message.reason})"
        self._status("waiting", text)
        self.query_one(CityPane).note = text

    def on_connected(self, message: Connected) -> None:
        if not self.is_running:
            return
        self._status("connected", f"connected to the daemon of {message.site} at {message.path}")
        self._load_faults(self.query_one(FaultsPane).wanted)
        if self.active == "energy":
            self._refresh_energy()
        self.notify(
            f"Connected to the daemon of {message.site} ({fmt.count(message.lamps, 'lamp')})"
        )

    def on_lost(self, message: Lost) -> None:
        if not self.is_running:
            return
        text = f"lost the daemon at {message.path}: reconnecting"
        if message.reason:
            text += f" ({message.reason})"
        self._status("lost", text)
        self._show_time(as_of=True)
        self.notify("The daemon went away: reconnecting", severity="error")

    def _show_time(self, *, as_of: bool = False) -> None:
        """The city's time in the status line: the daemon's, from the latest snapshot;
        ``as_of`` says that the figures shown stopped there."""
        if self.city is not None:
            when = fmt.clock(self.city.at, fmt.site_zone(self._timezone), seconds=True)
            text = f"{self.city.site} as of {when}" if as_of else f"{self.city.site} {when}"
            self.query_one(StatusLine).clock(text)

    def on_city_updated(self, message: CityUpdated) -> None:
        if not self.is_running:
            return
        view = message.view
        self.city = view
        if view.timezone != self._timezone:
            self._timezone = view.timezone
            tz = fmt.site_zone(view.timezone)
            self.query_one(CityPane).tz = tz
            self.query_one(TonightPane).tz = tz
            self.query_one(FaultsPane).tz = tz
            self.query_one(LampPane).tz = tz
        zones = tuple(zone.zone for zone in view.zones)
        if zones != self._zones:
            self._zones = zones
            self.query_one(FaultsPane).set_zones(zones)
        self.query_one(CityPane).city = view
        self.query_one(TonightPane).city = view
        self.query_one(DeliveryPane).city = view
        self.query_one(LampPane).now = view.at
        self._show_time()

    def on_notices_arrived(self, message: NoticesArrived) -> None:
        if not self.is_running:
            return
        feed = self.query_one(FaultsPane)
        feed.add((*message.faults, *message.incidents))
        self.query_one(CityPane).latest = feed.latest(LATEST_FAULTS)
        opened = [f for f in message.faults if f.event in (OPENED, REOPENED)]
        if opened:
            critical = sum(1 for f in opened if f.severity == "critical")
            first = opened[0]
            text = f"{first.kind.slug} on lamp {first.lamp_id} ({first.zone})"
            if len(opened) > 1:
                text += f" and {fmt.count(len(opened) - 1, 'more fault')}"
            self.notify(text, title="Fault", severity="error" if critical else "warning")

    def on_lamp_spoke(self, message: LampSpoke) -> None:
        if not self.is_running:
            return
        self._fetch_lamp(message.lamp_id)

    # -- what the panels want -------------------------------------------------------------

    def on_lamp_wanted(self, message: LampWanted) -> None:
        self.query_one(TabbedContent).active = "lamp"
        self._fetch_lamp(message.lamp_id, found=True)

    def on_faults_wanted(self, message: FaultsWanted) -> None:
        self._load_faults(message)

    def on_energy_wanted(self, message: EnergyWanted) -> None:
        self._load_energy(message.nights)

    def on_acknowledge_wanted(self, message: AcknowledgeWanted) -> None:
        self._acknowledge(message.fault.fault_id)

    def on_cancel_wanted(self, message: CancelWanted) -> None:
        self._cancel(message.override)

    def action_override(self) -> None:
        zone: str | None = None
        lamp_id: str | None = None
        if self.active == "city":
            zone = self.query_one(CityPane).zone
        elif self.active == "tonight":
            zone = self.query_one(TonightPane).zone
        elif self.active == "lamp":
            shown = self.query_one(LampPane).lamp
            lamp_id = shown.lamp_id if shown is not None else None
        if not self._zones and lamp_id is None:
            self.notify("No city yet: the daemon has not answered", severity="error")
            return
        self._override(zone, lamp_id)

    def _refresh_lamp(self) -> None:
        if not self.is_running:  # a timer firing while the app closes
            return
        shown = self.query_one(LampPane).lamp
        if shown is not None and self.active == "lamp" and self.link.client is not None:
            self._fetch_lamp(shown.lamp_id)

    def _refresh_energy(self) -> None:
        if self.is_running and self.active == "energy" and self.link.client is not None:
            pane = self.query_one(EnergyPane)
            self._load_energy(pane.span)

    # -- talking to the daemon (each in a worker) -----------------------------------------

    async def _ask(
        self, what: str, call: Callable[[ControlClient], Awaitable[_T]], *, quiet: bool = False
    ) -> _T | None:
        """``call`` on the connected client; None (and the operator told why) if it fails.
        ``quiet``: without a daemon, say nothing (what is loaded again on connecting)."""
        client = self.link.client
        if client is None:
            if not quiet:
                self.notify(f"{what}: no daemon at {self.link.path}", severity="error")
            return None
        try:
            found = await call(client)
        except LightingError as err:
            log.info("%s: %s", what, err)
            self.notify(f"{what}: {err}", severity="error")
            return None
        return found if self.is_running else None  # nowhere to show it while closing

    @work(group="lamp", exclusive=True)
    async def _fetch_lamp(self, lamp_id: str, *, found: bool = False) -> None:
        view = await self._ask(f"Lamp {lamp_id}", lambda client: client.lamp(lamp_id))
        if view is None:
            return
        self.link.watched = view.lamp_id
        pane = self.query_one(LampPane)
        pane.lamp = view
        if found:
            pane.focus_main()

    @work(group="faults", exclusive=True)
    async def _load_faults(self, wanted: FaultsWanted) -> None:
        found = await self._ask(
            "Faults",
            lambda client: client.faults(
                status=wanted.status,
                zone=wanted.zone,
                kind=wanted.kind,
                severity=wanted.severity,
                limit=500,
            ),
            quiet=True,
        )
        if found is not None:
            feed = self.query_one(FaultsPane)
            feed.load(found)
            self.query_one(CityPane).latest = feed.latest(LATEST_FAULTS)

    @work(group="energy", exclusive=True)
    async def _load_energy(self, nights: int) -> None:
        found = await self._ask("Energy", lambda client: client.energy(nights), quiet=True)
        if found is not None:
            self.query_one(EnergyPane).nights = tuple(found)

    @work(group="orders")
    async def _acknowledge(self, fault_id: int) -> None:
        done = await self._ask(
            f"Acknowledge fault {fault_id}", lambda client: client.acknowledge(fault_id, self.by)
        )
        if done is not None:
            self.notify(f"Fault {fault_id} {done.get('status', 'acknowledged')} by {self.by}")

    @work(group="orders")
    async def _override(self, zone: str | None, lamp_id: str | None) -> None:
        order = await self.push_screen_wait(OverrideDialog(self._zones, zone=zone, lamp_id=lamp_id))
        if order is None:
            return
        question = f"Override {order.describe()}, by {self.by}?"
        if not await self.push_screen_wait(ConfirmDialog(question)):
            self.notify("Override not sent")
            return
        made = await self._ask(
            "Override",
            lambda client: client.override(
                level=order.level,
                minutes=order.minutes,
                by=self.by,
                zone=order.zone,
                lamp=order.lamp_id,
                reason=order.reason,
            ),
        )
        if made is not None:
            until = fmt.clock(made.end, fmt.site_zone(self._timezone))
            self.notify(
                f"Override {made.override_id}: {order.target} at {made.level} % until {until}"
            )

    @work(group="orders")
    async def _cancel(self, override: OverrideView) -> None:
        what = f"zone {override.zone}" if override.zone is not None else f"lamp {override.lamp_id}"
        question = f"Cancel override {override.override_id} ({what} at {override.level} %)?"
        if not await self.push_screen_wait(ConfirmDialog(question)):
            return
        done = await self._ask(
            f"Cancel override {override.override_id}",
            lambda client: client.cancel(override.override_id, self.by),
        )
        if done is not None:
            self.notify(f"Override {done.override_id} cancelled by {self.by}: {what} back to plan")


def run_dashboard(socket: Path | str, *, by: str) -> None:
    """Run the dashboard in this terminal until the operator quits."""
    Dashboard(socket, by=by).run()
