"""The city at a glance, as the running daemon sees it now (``lighting.overview``).

Lamp counts, levels and power come from the daemon's memory (the newest report of each
lamp); faults, energy and the latest change's delivery from the record, in one trip to the
database thread.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lighting.const import ACKNOWLEDGED, ACTIVE, FAILED, PENDING
from lighting.controller.faults import fault_notice
from lighting.energy import dark_hours, energy_report, hour_of
from lighting.errors import NotFoundError
from lighting.overview import (
    CellDelivery,
    CityView,
    CommandView,
    EnergyNight,
    LampView,
    LevelPoint,
    OverrideView,
    ZoneView,
)
from lighting.storage import CommandRecord, FaultRecord, LampRecord, ReportRecord, Repository
from lighting.storage.records import NightEnergy
from schedules.wallclock import night_window

if TYPE_CHECKING:
    from lighting.controller.daemon import Controller

CITY_WIDE_ZONES = 1000
"""Changes looked at for the latest city-wide one (one per zone)."""
LAMP_COMMANDS = 20
LAMP_HISTORY = 2000
"""Reports of a lamp's night shown at most (a report a minute for 33 hours)."""


def _record_part(
    repo: Repository, now: datetime, controller: Controller
) -> tuple[list[FaultRecord], list[NightEnergy], int, dict[str, dict[str, int]], str]:
    """What the overview needs from the database (runs on the database thread)."""
    tz = controller.settings.site_value.tzinfo
    faults = repo.faults(status=ACTIVE)
    energy = repo.energy_tonight(now, tz)
    incidents = len(repo.incidents())
    outcomes: dict[str, dict[str, int]] = {}
    label = ""
    recent = repo.changes(CITY_WIDE_ZONES)
    if recent:
        # A city-wide change is one change per zone, all planned for the same instant.
        latest = [c for c in recent if c.planned_at == recent[0].planned_at]
        when = latest[0].planned_at.astimezone(tz).strftime("%H:%M")
        parts = ", ".join(f"{c.zone} {c.level} %" for c in sorted(latest, key=lambda c: c.zone))
        label = f"planned {when}: {parts}"
        outcomes = repo.outcomes_by_cell([change.change_id for change in latest])
    return faults, energy, incidents, outcomes, label


async def city_view(controller: Controller) -> CityView:
    now = controller.clock()
    settings = controller.settings
    site = settings.site_value
    faults, energy, incidents, outcomes, label = await controller.store.call(
        _record_part, controller.repository, now, controller
    )
    by_zone: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for fault in faults:
        by_zone[fault.zone][str(fault.severity)] += 1
    night_energy = {record.zone: record for record in energy}
    from lighting.controller.daemon import night_of  # noqa: PLC0415 - a cycle at import

    night = night_of(now, settings)
    plans = controller.plans(night)
    # The energy tonight is what the hourly roll-ups hold, complete hours only: the
    # baseline runs to the same hour, for the lamps with roll-ups, or a saving would be
    # claimed for hours not yet counted (100 % right after a start).
    dark = dark_hours(site, night, hour_of(now))
    slack = settings.faults.power_slack_w
    levels = controller.delivery.zone_levels if controller.delivery is not None else {}
    zones = []
    for zone, plan in plans.items():
        lamps = controller.registry.in_zone(zone)
        upcoming = [change for change in plan.changes if change.at > now]
        record = night_energy.get(zone)
        zones.append(
            ZoneView(
                zone=zone,
                lamps=len(lamps),
                lit=sum(1 for e in lamps if e.in_contact and (e.power_w or 0.0) > slack),
                out_of_contact=sum(1 for e in lamps if not e.in_contact),
                level_in_force=levels.get(zone),
                level_planned=controller.level_in_force(zone, now),
                power_w=round(sum(e.power_w or 0.0 for e in lamps if e.in_contact), 1),
                faults=dict(by_zone[zone]),
                energy_tonight_kwh=record.energy_wh / 1000 if record else 0.0,
                baseline_tonight_kwh=record.wattage_w * dark / 1000 if record else 0.0,
                next_change_at=upcoming[0].at if upcoming else None,
                next_level=upcoming[0].level if upcoming else None,
                program=plan.program.name,
            )
        )
    delivery = tuple(
        CellDelivery(
            cell, counts.get(ACKNOWLEDGED, 0), counts.get(PENDING, 0), counts.get(FAILED, 0)
        )
        for cell, counts in sorted(outcomes.items())
    )
    overrides = tuple(
        OverrideView(r.override_id, r.zone, r.lamp_id, r.level, r.start, r.end, r.by, r.reason)
        for r in controller.desk.overrides.values()
        if r.end > now
    )
    sun = next(iter(plans.values())).sun if plans else None
    return CityView(
        site=site.name,
        timezone=str(site.tzinfo),
        at=now,
        sunset=sun.sunset if sun is not None else None,
        sunrise=sun.sunrise if sun is not None else None,
        zones=tuple(zones),
        overrides=overrides,
        delivery=delivery,
        delivery_change=label,
        incidents=incidents,
    )


def _lamp_part(
    repo: Repository, lamp_id: str, since: datetime
) -> tuple[LampRecord | None, list[ReportRecord], list[FaultRecord], list[CommandRecord]]:
    lamp = repo.lamp(lamp_id)
    if lamp is None:
        return None, [], [], []
    reports = repo.reports(lamp_id, since=since, limit=LAMP_HISTORY)
    faults = [
        fault
        for fault in repo.faults(status=None, lamp_id=lamp_id, limit=50)
        if fault.active or (fault.resolved_at is not None and fault.resolved_at >= since)
    ]
    return lamp, reports, faults, repo.commands(lamp_id=lamp_id, limit=LAMP_COMMANDS)


async def lamp_view(controller: Controller, lamp_id: str) -> LampView:
    """One lamp: its state, its night so far, its faults, its last commands."""
    from lighting.controller.daemon import night_of  # noqa: PLC0415 - a cycle at import

    now = controller.clock()
    tz = controller.settings.site_value.tzinfo
    since = night_window(night_of(now, controller.settings), tz)[0]
    lamp, reports, faults, commands = await controller.store.call(
        _lamp_part, controller.repository, lamp_id, since
    )
    if lamp is None:
        raise NotFoundError("lamp", lamp_id)
    entry = controller.registry.find(lamp_id)
    return LampView(
        lamp_id=lamp.lamp_id,
        zone=lamp.zone,
        cell=lamp.cell,
        latitude=lamp.latitude,
        longitude=lamp.longitude,
        wattage=lamp.wattage,
        level=entry.level if entry is not None else lamp.level,
        power_w=entry.power_w if entry is not None else lamp.power_w,
        in_contact=entry.in_contact if entry is not None else lamp.in_contact,
        last_seen=lamp.last_seen,
        desired_level=lamp.desired_level,
        history=tuple(LevelPoint(r.received_at, r.level, r.power_w) for r in reversed(reports)),
        faults=tuple(
            fault_notice(fault.status, fault, fault.resolved_at or fault.last_seen_at)
            for fault in faults
        ),
        commands=tuple(
            CommandView(
                c.command_id,
                c.created_at,
                c.level,
                c.reason,
                c.outcome,
                c.attempts,
                c.latency_ms,
                c.error,
            )
            for c in commands
        ),
    )


async def energy_nights(
    controller: Controller, nights: int, zone: str | None = None
) -> list[EnergyNight]:
    """Energy per zone and night for the last ``nights`` nights (tonight so far included)."""
    from lighting.controller.daemon import night_of  # noqa: PLC0415 - a cycle at import

    now = controller.clock()
    site = controller.settings.site_value
    last = night_of(now, controller.settings)
    first = last - timedelta(days=nights - 1)
    records = await controller.store.call(
        controller.repository.energy_by_night, first, last, site.tzinfo, zone=zone
    )
    return [
        EnergyNight(line.night, line.zone, line.energy_kwh, line.baseline_kwh, line.lamps)
        for line in energy_report(site, records, until=now)
    ]
