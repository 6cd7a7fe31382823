"""Planning: every night of a year for many zones, and a year's validation."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from lighting.config import load_settings
from schedules import night_sun, plan_zones, validate

EXAMPLE = Path(__file__).resolve().parent.parent / "schedules" / "examples" / "weifang.toml"


def measure(zones: int = 1000, nights: int = 365) -> dict[str, float]:
    """Plan ``nights`` nights for ``zones`` zones, cycling over the example's calendars, as
    the controller plans its city each night (``plan_zones``)."""
    settings = load_settings(EXAMPLE)
    site = settings.site_value
    names = list(settings.zones)
    calendars = [settings.zone_calendar(name) for name in names]
    first = datetime.date(2027, 1, 1)
    days = [first + datetime.timedelta(days=i) for i in range(nights)]
    started = time.perf_counter()
    changes = 0
    city = {f"{names[i % len(names)]}-{i}": calendars[i % len(calendars)] for i in range(zones)}
    for day in days:
        changes += sum(len(plan.changes) for plan in plan_zones(site, city, (), day).values())
    planned_s = time.perf_counter() - started
    night_sun.cache_clear()  # validate from a cold start, not on the planning's sun times
    started = time.perf_counter()
    findings = sum(len(validate(c, site, first).problems) for c in calendars)
    validated_s = time.perf_counter() - started
    return {
        "zones": zones,
        "nights": nights,
        "plans": zones * nights,
        "changes": changes,
        "plan_s": round(planned_s, 2),
        "plans_per_s": round(zones * nights / planned_s),
        "calendars_validated": len(calendars),
        "validate_s": round(validated_s, 2),
        "findings": findings,
    }
