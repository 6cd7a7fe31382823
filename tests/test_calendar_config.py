"""Calendars, patterns and overrides in the TOML configuration: what they turn into, the
errors that name the file, table and key, and the daemon refusing a calendar with errors."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lighting.config import Settings, load_settings
from lighting.controller import Controller
from lighting.errors import ConfigError
from schedules import (
    DateRange,
    Dates,
    NthWeekday,
    Weekdays,
    Yearly,
    midnight_dimming,
    morning_only,
    part_night,
)
from tests.conftest import make_settings

EXAMPLE = Path(__file__).resolve().parents[1] / "schedules" / "examples" / "weifang.toml"
SHANGHAI = ZoneInfo("Asia/Shanghai")

BASE = """
[site]
name = "W"
latitude = 36.71
longitude = 119.16
timezone = "Asia/Shanghai"

[programs.road]
part-night = { level = 100, dim = [{ at = "23:00", level = 50 }] }

[programs.full]
all-night = { level = 100 }

[calendars.city]
default = "road"

[[calendars.city.rules]]
name = "eve"
yearly = "12-24"
program = "full"

[zones.centre]
calendar = "city"

[[overrides]]
name = "works"
zone = "centre"
level = 20
start = 2026-10-18T22:00:00
end = 2026-10-19T02:00:00+08:00
"""


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "city.toml"
    path.write_text(text)
    return load_settings(path)


def test_the_complete_example_loads_and_has_no_errors() -> None:
    settings = load_settings(EXAMPLE)

    city = settings.zone_calendar("centre")
    assert [rule.name for rule in city.rules] == [
        "spring-festival",
        "kite-festival",
        "national-day",
        "christmas-eve",
        "new-years-eve",
        "weekend",
    ]
    kinds = {type(selector) for rule in city.rules for selector in rule.when}
    assert kinds == {DateRange, Dates, Yearly, Weekdays}
    assert isinstance(settings.zone_calendar("old-town").rules[0].when[0], NthWeekday)
    assert city.anti_flap.min_lit == datetime.timedelta(minutes=15)
    assert settings.zone_program("centre").name == "main-road"
    assert settings.zone_calendar("residential").rules == ()
    reports = settings.calendar_reports(datetime.date(2026, 1, 1), used_only=False)
    assert set(reports) >= {"calendars.city", "calendars.old-town", "programs.bus-stops"}
    assert all(report.ok for report in reports.values())


def test_patterns_in_the_file_are_the_patterns_of_schedules() -> None:
    programs = load_settings(EXAMPLE).program_values

    assert programs["part-night"] == part_night("part-night", 100, [("23:00", 50), ("05:00", 100)])
    assert programs["astro"] == midnight_dimming("astro", 90, 50, "6h", ramp="5min")
    assert programs["bus-stops"] == morning_only("bus-stops", "05:00", off="R+5")
    assert str(programs["main-road"].steps[1]) == "23:00 60% over 10min"


def test_override_times_without_an_offset_are_local(tmp_path: Path) -> None:
    (works,) = _load(tmp_path, BASE).override_values

    assert works.start == datetime.datetime(2026, 10, 18, 22, 0, tzinfo=SHANGHAI)
    assert works.start.utcoffset() == datetime.timedelta(hours=8)
    assert works.end.astimezone(datetime.UTC) == datetime.datetime(
        2026, 10, 18, 18, 0, tzinfo=datetime.UTC
    )
    assert works.zone == "centre"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('program = "full"', 'program = "fulll"', "calendars.city.rules.0.program: no program"),
        ('yearly = "12-24"', 'yearly = "12-32"', "calendars.city.rules.0.yearly: cannot use"),
        ('yearly = "12-24"', 'weekdays = "mon-fry"', "calendars.city.rules.0.weekdays: cannot"),
        ('yearly = "12-24"', 'nth = "sixth monday"', "calendars.city.rules.0.nth: cannot read"),
        ('yearly = "12-24"', 'description = "x"', "calendars.city.rules.0: a rule needs"),
        ('default = "road"', 'default = "none"', "calendars.city.default: no program 'none'"),
        ('calendar = "city"', 'calendar = "town"', "zones.centre.calendar: no calendar 'town'"),
        ('calendar = "city"', 'calendar = "city"\nprogram = "road"', "zones.centre: give either"),
        ('zone = "centre"', 'zone = "north"', "overrides.0.zone: no zone 'north'"),
        ("level = 20", "level = 120", "overrides.0.level"),
        ("end = 2026-10-19T02:00:00+08:00", "end = 2026-10-18T21:00:00", "ends (2026-10-18"),
        ("level = 100 }\n", 'level = 100, off = "noon" }\n', "programs.full.all-night.off"),
        ("level = 50 }] }", 'level = 50, ramp = "2h" }] }', "step at 23:00: ramp 2h"),
        (
            "all-night = { level = 100 }",
            'all-night = { level = 100 }\nsteps = [{ at = "sunset", level = 1 }]',
            "programs.full: give exactly one of steps, all-night",
        ),
        ('default = "road"', 'default = "road"\nmin-gap = "10"', "calendars.city.min-gap"),
    ],
)
def test_errors_name_the_file_the_table_and_the_key(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in BASE
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, BASE.replace(old, new, 1))

    assert str(tmp_path / "city.toml") in str(caught.value)
    assert message in str(caught.value)


async def test_the_daemon_refuses_a_calendar_with_errors(db_url: str, coap_port: int) -> None:
    settings = make_settings(
        db_url,
        coap_port,
        site={"name": "Tromso", "latitude": 69.65, "longitude": 18.96, "timezone": "Europe/Oslo"},
        programs={"solar": {"all-night": {"level": 100}}},
        calendars={},
        zones={"harbour": {"program": "solar"}},
    )
    controller = Controller(
        settings, clock=lambda: datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    )

    with pytest.raises(ConfigError) as caught:
        async with controller:
            pytest.fail("the controller must not start")
    assert caught.value.key == "programs.solar"
    assert "never-on-polar" in str(caught.value)
    assert "never lights the lamps in polar night" in str(caught.value)
    assert controller.transport is None  # refused before anything was opened


async def test_the_daemon_logs_the_warnings(
    db_url: str, coap_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(
        db_url,
        coap_port,
        programs={"bus": {"morning": {"from": "05:00"}}},
        calendars={},
        zones={"stops": {"program": "bus"}},
    )
    clock = lambda: datetime.datetime(2026, 1, 1, 6, tzinfo=datetime.UTC)  # noqa: E731
    with caplog.at_level(logging.WARNING, logger="lighting.controller.daemon"):
        async with Controller(settings, clock=clock):
            pass
    warnings = [record.getMessage() for record in caplog.records]
    assert any(
        message.startswith("schedule programs.bus: warning [cannot-fire]") for message in warnings
    )
