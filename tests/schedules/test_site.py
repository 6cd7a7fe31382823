"""Sites validate their coordinates and zone when built."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

import pytest

from schedules import InvalidSiteError, ScheduleError, Site


def test_a_valid_site_gives_its_zone() -> None:
    site = Site("Weifang", 36.71, 119.16, "Asia/Shanghai")

    assert site.tzinfo == ZoneInfo("Asia/Shanghai")
    assert Site("edge", -90, 180, "UTC").latitude == -90


@pytest.mark.parametrize(
    ("latitude", "longitude", "field"),
    [
        (90.5, 0.0, "latitude"),
        (-91.0, 0.0, "latitude"),
        (math.nan, 0.0, "latitude"),
        (True, 0.0, "latitude"),
        ("36.7", 0.0, "latitude"),
        (0.0, 180.01, "longitude"),
        (0.0, -math.inf, "longitude"),
    ],
)
def test_bad_coordinates_are_refused(latitude: object, longitude: object, field: str) -> None:
    with pytest.raises(InvalidSiteError) as caught:
        Site("x", latitude, longitude, "UTC")  # type: ignore[arg-type]

    assert caught.value.field == field
    assert isinstance(caught.value, ScheduleError)


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "Europe", "../etc/passwd", "utc+8"])
def test_unknown_zones_are_refused(zone: str) -> None:
    with pytest.raises(InvalidSiteError, match="timezone") as caught:
        Site("x", 0.0, 0.0, zone)

    assert caught.value.value == zone
