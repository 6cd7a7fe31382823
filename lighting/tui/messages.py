"""What travels up the dashboard: the link's news, and what a panel asks the app to do.

Attributes go down (the app sets a panel's ``city``, ``lamp`` or ``nights``), messages come
up: the link (``lighting.tui.link``) tells the app what the daemon said; a panel tells the
app what the operator wants (a lamp, a filter, an order). Only the app talks to the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from lighting.notices import FaultNotice, IncidentNotice
from lighting.overview import CityView, OverrideView

# -- from the link --------------------------------------------------------------------------


@dataclass
class Waiting(Message):
    """No daemon answers yet (or any more); the link keeps trying."""

    path: str
    reason: str = ""


@dataclass
class Connected(Message):
    """The daemon answered ``hello`` and the view is subscribed to its notices."""

    path: str
    site: str
    lamps: int


@dataclass
class Lost(Message):
    """The daemon went away; the link reconnects when it comes back."""

    path: str
    reason: str = ""
    """Why, when more is known than that the connection closed."""


@dataclass
class CityUpdated(Message):
    """A new snapshot of the city (only the newest one waiting matters)."""

    view: CityView

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CityUpdated)


@dataclass
class NoticesArrived(Message):
    """Fault and incident notices received since the last batch, oldest first."""

    faults: tuple[FaultNotice, ...] = ()
    incidents: tuple[IncidentNotice, ...] = ()


@dataclass
class LampSpoke(Message):
    """The lamp the dashboard shows reported, or one of its faults changed."""

    lamp_id: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LampSpoke) and message.lamp_id == self.lamp_id


# -- from the panels ------------------------------------------------------------------------


@dataclass
class LampWanted(Message):
    """Show this lamp (searched for, or picked in the fault feed)."""

    lamp_id: str


@dataclass
class FaultsWanted(Message):
    """Load the fault feed again with these filters (None: any)."""

    zone: str | None
    kind: str | None
    severity: str | None
    status: str


@dataclass
class EnergyWanted(Message):
    """Load the energy of the last ``nights`` nights."""

    nights: int


@dataclass
class AcknowledgeWanted(Message):
    """Acknowledge this fault, by the operator at the dashboard."""

    fault: FaultNotice


@dataclass
class CancelWanted(Message):
    """Cancel this override (after a confirmation)."""

    override: OverrideView
