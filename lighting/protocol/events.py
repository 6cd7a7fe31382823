"""What the controller publishes for the rest of the city: JSON documents from its notices.

A lamp's status follows the FIWARE ``Streetlight`` data model (smart-data-models,
``dataModel.Streetlighting``) so that a city platform can take it as it is:

==================== =====================================================================
``id``               ``urn:ngsi-ld:Streetlight:<lamp>``
``type``             ``Streetlight``
``status``           ``ok``, ``defectiveLamp``, ``brokenLantern`` or ``columnIssue``,
                     from the lamp's open faults (``STATUS_OF_FAULT`` below)
``powerState``       ``on`` (lit at full level), ``low`` (lit, dimmed), ``off`` (no light,
                     whatever the level set); absent before the lamp's first report
``illuminanceLevel`` the level set, 0 to 1; absent before the first report
``location``         GeoJSON Point, ``[longitude, latitude]``
``refStreetlightGroup`` ``urn:ngsi-ld:StreetlightGroup:<zone>``: a zone is the group of
                     lamps that runs one program
``dateModified``     ISO 8601, UTC, of the notice
==================== =====================================================================

and citylight's own: ``zone``, ``inContact`` (false once the lamp stopped reporting),
``faults`` (the slugs of its open faults, sorted) and ``powerW`` (the last power reported).

Fault and incident events carry the event (``opened``, ``reopened``, ``acknowledged``,
``grouped``, ``resolved``), the ids, the kind's slug, severity and description, the lamp
or cell, the location, the times (``dateOpened``, ``dateObserved``: when the fault opened,
when this event happened), who (``by``) and a note. A consumer tells events apart by
(id, ``event``, ``dateObserved``): QoS 1 may deliver one twice.

Everything here is pure; ``outgoing`` gives the frozen message the MQTT adapter sends.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from lighting.model import FaultKind
from lighting.notices import FaultNotice, IncidentNotice, LampNotice, Notice
from lighting.protocol.topics import Topics

STREETLIGHT: Final = "Streetlight"
FAULT_TYPE: Final = "StreetlightFault"
INCIDENT_TYPE: Final = "StreetlightIncident"

OK: Final = "ok"
DEFECTIVE_LAMP: Final = "defectiveLamp"
BROKEN_LANTERN: Final = "brokenLantern"
COLUMN_ISSUE: Final = "columnIssue"

POWER_ON: Final = "on"
POWER_LOW: Final = "low"
POWER_OFF: Final = "off"

STATUS_OF_FAULT: Final[dict[FaultKind, str]] = {
    # The light source gives no light, the wrong light, or light at the wrong time.
    FaultKind.LAMP_FAILURE: DEFECTIVE_LAMP,
    FaultKind.DIMMING_FAILURE: DEFECTIVE_LAMP,
    FaultKind.POWER_HIGH: DEFECTIVE_LAMP,
    FaultKind.POWER_LOW: DEFECTIVE_LAMP,
    FaultKind.CYCLING: DEFECTIVE_LAMP,
    FaultKind.DAY_BURNER: DEFECTIVE_LAMP,
    FaultKind.NIGHT_OUTAGE: DEFECTIVE_LAMP,
    # The lantern's gear: driver, relay of the node, the housing that overheats.
    FaultKind.DRIVER_FAILURE: BROKEN_LANTERN,
    FaultKind.RELAY_FAILURE: BROKEN_LANTERN,
    FaultKind.THERMAL_SHUTDOWN: BROKEN_LANTERN,
    # The supply that runs up the column.
    FaultKind.SUPPLY_LOSS: COLUMN_ISSUE,
    FaultKind.VOLTAGE_HIGH: COLUMN_ISSUE,
    FaultKind.VOLTAGE_LOW: COLUMN_ISSUE,
}
"""The FIWARE status a fault gives a lamp. Warnings (power-factor-low, thermal-derating)
leave it ``ok`` (the lamp lights); so do comms-lost and unreachable, which ``inContact``
and the fault list tell: nobody knows the lamp's state then."""

_PRECEDENCE: Final = (COLUMN_ISSUE, BROKEN_LANTERN, DEFECTIVE_LAMP)
"""With several faults the status names the one a crew sees to first: the column's supply
(an electrician, often several lamps), then the lantern, then the lamp."""


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One MQTT message to publish.

    ``fingerprint`` tells whether a retained status says something new: a digest of its
    payload without ``dateModified`` (16 bytes, so that a city's worth stays small). The
    publisher skips a status whose fingerprint equals the last one sent for that lamp.
    """

    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 1
    fingerprint: bytes = b""

    def __post_init__(self) -> None:
        if not self.topic or any(c in self.topic for c in "+#\0"):
            raise ValueError(f"{self.topic!r} is not a topic to publish to")
        if self.qos not in (0, 1, 2):
            raise ValueError(f"QoS {self.qos} is not 0, 1 or 2")


def iso(at: datetime) -> str:
    """``at`` in ISO 8601, UTC, to the millisecond (``2026-11-24T12:00:00.000Z``).

    A naive datetime is taken as UTC (the controller's clocks are zone-aware)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def point(latitude: float, longitude: float) -> dict[str, Any]:
    """A GeoJSON Point: longitude first."""
    return {"type": "Point", "coordinates": [longitude, latitude]}


def streetlight_id(lamp_id: str) -> str:
    return f"urn:ngsi-ld:{STREETLIGHT}:{lamp_id}"


def group_id(zone: str) -> str:
    return f"urn:ngsi-ld:StreetlightGroup:{zone}"


def street_status(faults: frozenset[FaultKind]) -> str:
    """The FIWARE ``status`` of a lamp with ``faults`` open."""
    statuses = {STATUS_OF_FAULT[kind] for kind in faults if kind in STATUS_OF_FAULT}
    return next((status for status in _PRECEDENCE if status in statuses), OK)


def power_state(level: int | None, lit: bool) -> str | None:
    """``on``, ``low`` or ``off``; None when the lamp has not reported a level yet."""
    if level is None:
        return None
    if not lit or level <= 0:
        return POWER_OFF
    return POWER_ON if level >= 100 else POWER_LOW


def lamp_status(notice: LampNotice) -> dict[str, Any]:
    """The lamp's status as a FIWARE ``Streetlight`` entity (with citylight's fields)."""
    doc: dict[str, Any] = {
        "id": streetlight_id(notice.lamp_id),
        "type": STREETLIGHT,
        "status": street_status(notice.faults),
    }
    state = power_state(notice.level, notice.lit)
    if state is not None:
        doc["powerState"] = state
    if notice.level is not None:
        doc["illuminanceLevel"] = notice.level / 100
    doc["location"] = point(notice.latitude, notice.longitude)
    doc["refStreetlightGroup"] = group_id(notice.zone)
    doc["zone"] = notice.zone
    doc["inContact"] = notice.in_contact
    doc["faults"] = sorted(kind.slug for kind in notice.faults)
    if notice.power_w is not None:
        doc["powerW"] = notice.power_w
    doc["dateModified"] = iso(notice.at)
    return doc


def fault_event(notice: FaultNotice) -> dict[str, Any]:
    """A fault's event: what happened to it, and the whole fault as it is now."""
    kind = notice.kind
    return {
        "id": f"urn:ngsi-ld:{FAULT_TYPE}:{notice.fault_id}",
        "type": FAULT_TYPE,
        "event": notice.event,
        "faultId": notice.fault_id,
        "kind": kind.slug,
        "severity": str(kind.severity),
        "description": kind.description,
        "source": notice.source,
        "status": notice.status,
        "count": notice.count,
        "refStreetlight": streetlight_id(notice.lamp_id),
        "lamp": notice.lamp_id,
        "zone": notice.zone,
        "incidentId": notice.incident_id,
        "location": point(notice.latitude, notice.longitude),
        "dateOpened": iso(notice.opened_at),
        "dateObserved": iso(notice.at),
        "by": notice.by,
        "note": notice.note,
        "detail": notice.detail,
    }


def incident_event(notice: IncidentNotice) -> dict[str, Any]:
    """An incident's event: many lamps of one cell with the same fault."""
    kind = notice.kind
    return {
        "id": f"urn:ngsi-ld:{INCIDENT_TYPE}:{notice.incident_id}",
        "type": INCIDENT_TYPE,
        "event": notice.event,
        "incidentId": notice.incident_id,
        "kind": kind.slug,
        "severity": str(kind.severity),
        "description": kind.description,
        "status": notice.status,
        "cell": notice.cell,
        "zones": list(notice.zones),
        "lamps": notice.lamps,
        "location": point(notice.latitude, notice.longitude),
        "dateOpened": iso(notice.opened_at),
        "dateObserved": iso(notice.at),
        "by": notice.by,
        "note": notice.note,
    }


def outgoing(notice: Notice, topics: Topics) -> Outgoing:
    """The message that tells ``notice``: a retained status, or a fault or incident event."""
    if isinstance(notice, LampNotice):
        doc = lamp_status(notice)
        content = _json({k: v for k, v in doc.items() if k != "dateModified"})
        return Outgoing(
            topics.lamp(notice.zone, notice.lamp_id),
            _json(doc),
            retain=True,
            fingerprint=hashlib.blake2b(content, digest_size=16).digest(),
        )
    if isinstance(notice, FaultNotice):
        return Outgoing(topics.fault(notice.zone, notice.lamp_id), _json(fault_event(notice)))
    return Outgoing(topics.incident, _json(incident_event(notice)))


def clear_retained(topic: str) -> Outgoing:
    """An empty retained message: the broker forgets what ``topic`` retained (a lamp that
    moved to another zone leaves no stale status behind)."""
    return Outgoing(topic, b"", retain=True)
