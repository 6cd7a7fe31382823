"""How the CLI and the demo show records: rich tables for people, JSON for programs.

Pure formatting: values in, renderables or strings out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from rich.table import Table

from lighting.storage import ChangeRecord, FaultRecord, LampRecord
from schedules import NightPlan


def _local(instant: datetime | None, tz: tzinfo | None, fmt: str = "%m-%d %H:%M") -> str:
    if instant is None:
        return "-"
    shown = instant.astimezone(tz) if tz is not None else instant
    return shown.strftime(fmt)


def _zone_name(tz: tzinfo | None) -> str:
    return "UTC" if tz is None else str(tz)


def fault_dict(fault: FaultRecord) -> dict[str, Any]:
    return {
        "id": fault.fault_id,
        "lamp": fault.lamp_id,
        "zone": fault.zone,
        "kind": fault.kind.slug,
        "code": int(fault.kind),
        "severity": str(fault.severity),
        "source": fault.source,
        "status": fault.status,
        "since": fault.opened_at.isoformat(),
        "last_seen": fault.last_seen_at.isoformat(),
        "resolved_at": None if fault.resolved_at is None else fault.resolved_at.isoformat(),
        "count": fault.count,
        "latitude": fault.latitude,
        "longitude": fault.longitude,
        "detail": fault.detail,
    }


def faults_table(faults: Sequence[FaultRecord], tz: tzinfo | None = None) -> Table:
    table = Table(title=f"{len(faults)} faults (times in {_zone_name(tz)})", title_justify="left")
    for column in ("id", "lamp", "zone", "kind", "severity", "since", "n", "lat,lon"):
        table.add_column(column, justify="right" if column in {"id", "n"} else "left")
    for f in faults:
        table.add_row(
            str(f.fault_id),
            f.lamp_id,
            f.zone,
            f.kind.slug,
            str(f.severity),
            _local(f.opened_at, tz),
            str(f.count),
            f"{f.latitude:.5f},{f.longitude:.5f}",
        )
    return table


def lamp_dict(lamp: LampRecord) -> dict[str, Any]:
    return {
        "lamp": lamp.lamp_id,
        "zone": lamp.zone,
        "cell": lamp.cell,
        "status": lamp.status,
        "level": lamp.level,
        "power_w": lamp.power_w,
        "energy_wh": lamp.energy_wh,
        "wattage": lamp.wattage,
        "last_seen": None if lamp.last_seen is None else lamp.last_seen.isoformat(),
        "latitude": lamp.latitude,
        "longitude": lamp.longitude,
        "address": f"{lamp.address}:{lamp.port}",
    }


def lamps_table(
    lamps: Sequence[LampRecord], tz: tzinfo | None = None, title: str | None = None
) -> Table:
    heading = title or f"{len(lamps)} lamps"
    table = Table(title=f"{heading} (times in {_zone_name(tz)})", title_justify="left")
    for column in ("lamp", "zone", "cell", "level %", "power W", "energy Wh", "status", "seen"):
        table.add_column(column, justify="right" if column[-1] in "%Wh" else "left")
    for lamp in lamps:
        table.add_row(
            lamp.lamp_id,
            lamp.zone,
            lamp.cell,
            "-" if lamp.level is None else str(lamp.level),
            "-" if lamp.power_w is None else f"{lamp.power_w:.1f}",
            "-" if lamp.energy_wh is None else f"{lamp.energy_wh:.2f}",
            lamp.status,
            _local(lamp.last_seen, tz, "%H:%M:%S"),
        )
    return table


def _sun_line(plan: NightPlan) -> str:
    sun = plan.sun
    tz = plan.site.tzinfo
    parts = [f"{plan.sun.case.value}"]
    if sun.sunset is not None:
        parts.append(f"sunset {sun.sunset.astimezone(tz):%H:%M}")
    if sun.sunrise is not None:
        parts.append(f"sunrise {sun.sunrise.astimezone(tz):%H:%M} (+1 day)")
    return ", ".join(parts)


def plan_dict(zone: str, plan: NightPlan) -> dict[str, Any]:
    sun = plan.sun
    return {
        "zone": zone,
        "program": plan.program.name,
        "night": plan.date.isoformat(),
        "site": plan.site.name,
        "sun": {
            "case": sun.case.value,
            "sunset": None if sun.sunset is None else sun.sunset.isoformat(),
            "sunrise": None if sun.sunrise is None else sun.sunrise.isoformat(),
        },
        "changes": [
            {"at": c.at.isoformat(), "level": c.level, "step": str(c.step.anchor)}
            for c in plan.changes
        ],
        "notes": list(plan.notes),
    }


def plans_table(plans: Mapping[str, NightPlan]) -> Table:
    first = next(iter(plans.values()))
    table = Table(
        title=f"night of {first.date} at {first.site.name}: {_sun_line(first)}",
        title_justify="left",
    )
    for column in ("zone", "program", "time", "level %", "step"):
        table.add_column(column, justify="right" if column == "level %" else "left")
    for zone, plan in plans.items():
        tz = plan.site.tzinfo
        for change in plan.changes:
            table.add_row(
                zone,
                plan.program.name,
                f"{change.at.astimezone(tz):%Y-%m-%d %H:%M}",
                str(change.level),
                str(change.step.anchor),
            )
        for note in plan.notes:
            table.add_row(zone, plan.program.name, "", "", f"note: {note}")
    return table


def change_line(change: ChangeRecord, tz: tzinfo | None = None) -> str:
    planned = change.planned_at.astimezone(tz) if tz is not None else change.planned_at
    took = (change.finished_at - change.started_at).total_seconds() if change.finished_at else 0.0
    return (
        f"{planned:%H:%M} zone {change.zone:<8} -> {change.level:>3}%  "
        f"{change.acknowledged}/{change.total} acknowledged, {change.failed} failed "
        f"in {took:.2f} s"
    )


def to_json(items: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps(list(items), indent=2, ensure_ascii=False)
