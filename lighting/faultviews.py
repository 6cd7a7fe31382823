"""How the field crew sees faults, incidents and a lamp's story: tables for people; JSON,
CSV and GeoJSON for programs and map apps.

Pure formatting: records in, renderables or strings out. Distances, when the crew asked for
faults near a point, come in as a mapping from fault id to metres.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lighting.storage import (
    CommandRecord,
    FaultRecord,
    IncidentRecord,
    LampRecord,
    ReportRecord,
)
from lighting.styles import SEVERITY_STYLE
from lighting.views import command_dict, commands_table, lamp_dict, local_time, zone_label

Distances = Mapping[int, float]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def fault_dict(fault: FaultRecord, distance_m: float | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": fault.fault_id,
        "lamp": fault.lamp_id,
        "zone": fault.zone,
        "cell": fault.cell,
        "kind": fault.kind.slug,
        "code": int(fault.kind),
        "severity": str(fault.severity),
        "description": fault.kind.description,
        "source": fault.source,
        "status": fault.status,
        "since": fault.opened_at.isoformat(),
        "last_seen": fault.last_seen_at.isoformat(),
        "count": fault.count,
        "acknowledged_by": fault.acknowledged_by,
        "acknowledged_at": _iso(fault.acknowledged_at),
        "resolved_by": fault.resolved_by,
        "resolved_at": _iso(fault.resolved_at),
        "note": fault.note,
        "incident": fault.incident_id,
        "latitude": fault.latitude,
        "longitude": fault.longitude,
        "position": [fault.latitude, fault.longitude],
        "detail": fault.detail,
    }
    if distance_m is not None:
        shown["distance_m"] = round(distance_m, 1)
    return shown


def _distance(metres: float) -> str:
    return f"{metres / 1000:.2f} km" if metres >= 1000 else f"{metres:.0f} m"


def _status(fault: FaultRecord) -> str:
    shown = fault.status
    if fault.count > 1:
        shown += f" x{fault.count}"
    if fault.incident_id is not None:
        shown += f" (incident {fault.incident_id})"
    return shown


def faults_table(
    faults: Sequence[FaultRecord], tz: tzinfo | None = None, distances: Distances | None = None
) -> Table:
    """Faults for a person, in 80 columns: the position is in ``faults show``, JSON, CSV and
    GeoJSON; with ``--near`` the distance is shown instead."""
    table = Table(
        title=f"{len(faults)} faults (times in {zone_label(tz)})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    columns = ["id", "lamp", "zone", "kind", "severity", "status", "since"]
    if distances is not None:
        columns.append("away")
    for column in columns:
        table.add_column(
            column, justify="right" if column in {"id", "away"} else "left", no_wrap=True
        )
    for f in faults:
        row: list[str | Text] = [
            str(f.fault_id),
            f.lamp_id,
            f.zone,
            f.kind.slug,
            Text(str(f.severity), style=SEVERITY_STYLE[f.severity]),
            _status(f),
            local_time(f.opened_at, tz),
        ]
        if distances is not None:
            row.append(_distance(distances[f.fault_id]))
        table.add_row(*row)
    return table


_CSV_COLUMNS = (
    "id",
    "lamp",
    "zone",
    "cell",
    "kind",
    "code",
    "severity",
    "source",
    "status",
    "since",
    "last_seen",
    "count",
    "acknowledged_by",
    "resolved_by",
    "resolved_at",
    "incident",
    "latitude",
    "longitude",
    "distance_m",
    "note",
    "detail",
)


def faults_csv(faults: Sequence[FaultRecord], distances: Distances | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=_CSV_COLUMNS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for fault in faults:
        writer.writerow(fault_dict(fault, None if distances is None else distances[fault.fault_id]))
    return buffer.getvalue()


def faults_geojson(
    faults: Sequence[FaultRecord],
    incidents: Sequence[IncidentRecord] = (),
    distances: Distances | None = None,
) -> str:
    """A GeoJSON FeatureCollection (RFC 7946: coordinates are longitude, latitude)."""
    features = []
    for fault in faults:
        properties = fault_dict(fault, None if distances is None else distances[fault.fault_id])
        for key in ("latitude", "longitude", "position"):
            properties.pop(key)
        features.append(_feature(fault.longitude, fault.latitude, {"type": "fault", **properties}))
    for incident in incidents:
        properties = incident_dict(incident)
        for key in ("latitude", "longitude"):
            properties.pop(key)
        features.append(
            _feature(incident.longitude, incident.latitude, {"type": "incident", **properties})
        )
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=2)


def _feature(lon: float, lat: float, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": properties,
    }


def incident_dict(incident: IncidentRecord) -> dict[str, Any]:
    return {
        "id": incident.incident_id,
        "kind": incident.kind.slug,
        "severity": str(incident.severity),
        "cell": incident.cell,
        "zones": list(incident.zones),
        "status": incident.status,
        "lamps": incident.lamps,
        "peak": incident.peak,
        "since": incident.opened_at.isoformat(),
        "last_seen": incident.last_seen_at.isoformat(),
        "acknowledged_by": incident.acknowledged_by,
        "resolved_by": incident.resolved_by,
        "resolved_at": _iso(incident.resolved_at),
        "note": incident.note,
        "latitude": incident.latitude,
        "longitude": incident.longitude,
    }


def incidents_table(incidents: Sequence[IncidentRecord], tz: tzinfo | None = None) -> Table:
    table = Table(
        title=f"{len(incidents)} incidents (times in {zone_label(tz)}): many lamps of one "
        "cell at once",
        title_justify="left",
    )
    for column in ("id", "cell", "kind", "severity", "status", "lamps", "peak", "since", "zones"):
        table.add_column(column, justify="right" if column in {"id", "lamps", "peak"} else "left")
    for i in incidents:
        table.add_row(
            str(i.incident_id),
            i.cell,
            i.kind.slug,
            str(i.severity),
            i.status,
            str(i.lamps),
            str(i.peak),
            local_time(i.opened_at, tz),
            ", ".join(i.zones),
        )
    return table


def report_dict(report: ReportRecord) -> dict[str, Any]:
    return {
        "received_at": report.received_at.isoformat(),
        "boot": report.boot,
        "seq": report.seq,
        "level": report.level,
        "power_w": report.power_w,
        "energy_wh": report.energy_wh,
        "voltage_v": report.voltage_v,
        "faults": [kind.slug for kind in report.faults],
    }


def reports_table(reports: Sequence[ReportRecord], tz: tzinfo | None = None) -> Table:
    table = Table(title=f"last {len(reports)} reports", title_justify="left")
    for column in ("received", "seq", "level %", "power W", "energy Wh", "volts", "faults"):
        table.add_column(column, justify="left" if column in {"received", "faults"} else "right")
    for r in reports:
        table.add_row(
            local_time(r.received_at, tz, "%m-%d %H:%M:%S"),
            f"{r.boot}.{r.seq}",
            str(r.level),
            f"{r.power_w:.1f}",
            f"{r.energy_wh:.2f}",
            "-" if r.voltage_v is None else f"{r.voltage_v:.0f}",
            ", ".join(kind.slug for kind in r.faults) or "-",
        )
    return table


@dataclass(frozen=True, slots=True)
class LampStory:
    """Everything the record holds about a lamp (and one of its faults, when asked)."""

    lamp: LampRecord
    faults: Sequence[FaultRecord]
    reports: Sequence[ReportRecord]
    commands: Sequence[CommandRecord]
    fault: FaultRecord | None = None
    incident: IncidentRecord | None = None


def story_dict(told: LampStory) -> dict[str, Any]:
    """A fault's (or a lamp's) whole story, as one JSON object."""
    shown: dict[str, Any] = {}
    if told.fault is not None:
        shown["fault"] = fault_dict(told.fault)
    if told.incident is not None:
        shown["incident"] = incident_dict(told.incident)
    shown["lamp"] = lamp_dict(told.lamp)
    shown["faults"] = [fault_dict(f) for f in told.faults]
    shown["reports"] = [report_dict(r) for r in told.reports]
    shown["commands"] = [command_dict(c) for c in told.commands]
    return shown


def _lamp_lines(lamp: LampRecord, tz: tzinfo | None) -> Text:
    level = "-" if lamp.level is None else f"{lamp.level} %"
    power = "-" if lamp.power_w is None else f"{lamp.power_w:.1f} W of {lamp.wattage:.0f} W"
    lines = [
        f"lamp {lamp.lamp_id}  zone {lamp.zone}  cell {lamp.cell or '-'}  {lamp.status}",
        f"at {lamp.latitude:.6f},{lamp.longitude:.6f}  "
        f"(https://www.openstreetmap.org/?mlat={lamp.latitude}&mlon={lamp.longitude}#map=19/"
        f"{lamp.latitude}/{lamp.longitude})",
        f"now: level {level}, {power}, last heard {local_time(lamp.last_seen, tz)} "
        f"({zone_label(tz)})",
    ]
    if lamp.desired_level is not None:
        delivered = "delivered" if lamp.delivered else "not yet delivered"
        lines.append(f"should be at {lamp.desired_level} % ({delivered})")
    return Text("\n".join(lines))


def _fault_lines(fault: FaultRecord, tz: tzinfo | None) -> Text:
    lines = [
        f"fault {fault.fault_id}: {fault.kind.slug} ({fault.severity}), {fault.status}",
        fault.kind.description,
        f"opened {local_time(fault.opened_at, tz)} by the {fault.source}, last seen "
        f"{local_time(fault.last_seen_at, tz)}, occurred {fault.count} time(s)",
    ]
    if fault.detail:
        lines.append(f"detail: {fault.detail}")
    if fault.acknowledged_by:
        lines.append(
            f"acknowledged by {fault.acknowledged_by} at {local_time(fault.acknowledged_at, tz)}"
        )
    if fault.resolved_at is not None:
        lines.append(f"resolved by {fault.resolved_by} at {local_time(fault.resolved_at, tz)}")
    if fault.note:
        lines.append(f"note: {fault.note}")
    if fault.incident_id is not None:
        lines.append(f"part of incident {fault.incident_id} (lighting incidents)")
    return Text("\n".join(lines))


def story(told: LampStory, tz: tzinfo | None = None) -> RenderableType:
    """A fault's (or a lamp's) whole story, for a person."""
    parts: list[RenderableType] = []
    if told.fault is not None:
        parts += [_fault_lines(told.fault, tz), Text("")]
    parts += [_lamp_lines(told.lamp, tz), Text("")]
    parts.append(faults_table(told.faults, tz) if told.faults else Text("no faults on record"))
    parts.append(reports_table(told.reports, tz) if told.reports else Text("no reports on record"))
    parts.append(
        commands_table(told.commands, tz) if told.commands else Text("no commands on record")
    )
    return Group(*parts)
