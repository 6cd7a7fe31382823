"""What the controller tells the rest of the city: a lamp's state, a fault's life, an incident.

Notices are frozen values emitted by the controller on its event hub
(``lighting.controller.events``) and turned into messages by the adapters: MQTT for other
city applications (``lighting.protocol.events`` gives their JSON), the dashboard for
operators. They carry everything a consumer needs, so that none has to read the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lighting.model import FaultKind, Severity

OPENED = "opened"
REOPENED = "reopened"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
GROUPED = "grouped"
"""A fault taken into an incident (it is then reported with the incident, not alone)."""


@dataclass(frozen=True, slots=True)
class LampNotice:
    """A lamp's state after a report (the newest one) or a change of contact."""

    lamp_id: str
    zone: str
    latitude: float
    longitude: float
    level: int | None
    power_w: float | None
    lit: bool
    in_contact: bool
    faults: frozenset[FaultKind]
    at: datetime


@dataclass(frozen=True, slots=True)
class FaultNotice:
    """A fault was opened, reopened (it flapped back), acknowledged, grouped or resolved."""

    event: str
    fault_id: int
    lamp_id: str
    zone: str
    kind: FaultKind
    source: str
    status: str
    opened_at: datetime
    at: datetime
    count: int
    latitude: float
    longitude: float
    incident_id: int | None = None
    by: str | None = None
    note: str = ""
    detail: str = ""

    @property
    def severity(self) -> Severity:
        return self.kind.severity


@dataclass(frozen=True, slots=True)
class IncidentNotice:
    """Many lamps of one cell with the same fault at once: one incident, not many faults."""

    event: str
    incident_id: int
    kind: FaultKind
    cell: str
    zones: tuple[str, ...]
    lamps: int
    status: str
    opened_at: datetime
    at: datetime
    latitude: float
    longitude: float
    """The centre of the lamps concerned."""
    by: str | None = None
    note: str = ""

    @property
    def severity(self) -> Severity:
        return self.kind.severity


Notice = LampNotice | FaultNotice | IncidentNotice
