"""Sun times of one night, checked against an independent NOAA implementation and at the
polar circles, where astral raises and we must answer polar day or polar night."""

from __future__ import annotations

import datetime

import pytest

from schedules import (
    InvalidInstantError,
    NightSun,
    ScheduleError,
    Site,
    SunCase,
    SunComputationError,
    night_sun,
)
from tests.schedules.noaa import sun_event
from tests.schedules.sites import MCMURDO, MURMANSK, TROMSO, WEIFANG

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
ONE_MINUTE = datetime.timedelta(minutes=1)


def _local(moment: datetime.datetime | None) -> datetime.datetime:
    assert moment is not None
    assert moment.tzinfo is not None
    return moment.astimezone(SHANGHAI).replace(tzinfo=None)


def _noaa(date: datetime.date, *, rising: bool, zenith: float = 90.833) -> datetime.datetime:
    return sun_event(WEIFANG.latitude, WEIFANG.longitude, date, 8, rising=rising, zenith=zenith)


# NOAA solar calculator for Weifang (36.71 N, 119.16 E, UTC+8), computed by tests/schedules/
# noaa.py from the spreadsheet formulas:
#   2026-06-21 sunset 19:25:25, 2026-06-22 sunrise 04:45:01, dusk 19:56:07, dawn 04:14:19
#   2026-12-21 sunset 16:50:42, 2026-12-22 sunrise 07:12:20, dusk 17:19:38, dawn 06:43:24
@pytest.mark.parametrize(
    ("date", "sunset", "sunrise"),
    [
        (datetime.date(2026, 6, 21), datetime.time(19, 25), datetime.time(4, 45)),
        (datetime.date(2026, 12, 21), datetime.time(16, 51), datetime.time(7, 12)),
    ],
)
def test_weifang_matches_noaa(
    date: datetime.date, sunset: datetime.time, sunrise: datetime.time
) -> None:
    sun = night_sun(WEIFANG, date)
    next_day = date + datetime.timedelta(days=1)

    assert sun.case is SunCase.NORMAL
    assert sun.twilight is SunCase.NORMAL
    assert abs(_local(sun.sunset) - _noaa(date, rising=False)) < ONE_MINUTE
    assert abs(_local(sun.sunrise) - _noaa(next_day, rising=True)) < ONE_MINUTE
    assert abs(_local(sun.dusk) - _noaa(date, rising=False, zenith=96)) < ONE_MINUTE
    assert abs(_local(sun.dawn) - _noaa(next_day, rising=True, zenith=96)) < ONE_MINUTE
    # The rounded published-style values, to within two minutes, on the right dates.
    two_minutes = datetime.timedelta(minutes=2)
    assert abs(_local(sun.sunset) - datetime.datetime.combine(date, sunset)) < two_minutes
    assert abs(_local(sun.sunrise) - datetime.datetime.combine(next_day, sunrise)) < two_minutes


def test_events_are_in_the_site_zone_and_in_night_order() -> None:
    sun = night_sun(WEIFANG, datetime.date(2026, 6, 21))

    moments = [sun.sunset, sun.dusk, sun.solar_midnight, sun.dawn, sun.sunrise]
    assert all(moment is not None and moment.tzinfo == WEIFANG.tzinfo for moment in moments)
    assert moments == sorted(moments)  # type: ignore[type-var]
    assert sun.solar_midnight.date() == datetime.date(2026, 6, 22)
    assert sun.solar_midnight.microsecond == 0


def test_tromso_midsummer_is_polar_day() -> None:
    sun = night_sun(TROMSO, datetime.date(2026, 6, 21))

    assert sun == NightSun(
        date=datetime.date(2026, 6, 21),
        case=SunCase.POLAR_DAY,
        sunset=None,
        sunrise=None,
        dusk=None,
        dawn=None,
        solar_midnight=sun.solar_midnight,
        twilight=SunCase.POLAR_DAY,
    )
    # Solar midnight at Tromsø is about 00:45 CEST.
    assert datetime.time(0, 30) < sun.solar_midnight.time() < datetime.time(1, 0)


def test_tromso_midwinter_is_polar_night_with_civil_twilight() -> None:
    sun = night_sun(TROMSO, datetime.date(2026, 12, 21))

    assert sun.case is SunCase.POLAR_NIGHT
    assert sun.sunset is None
    assert sun.sunrise is None
    # The sun climbs to about 3 degrees below the horizon at noon: civil twilight happens.
    assert sun.twilight is SunCase.NORMAL
    assert sun.dusk is not None
    assert sun.dusk.date() == datetime.date(2026, 12, 21)
    assert sun.dawn is not None
    assert sun.dawn.date() == datetime.date(2026, 12, 22)


def test_sunset_after_midnight_belongs_to_the_previous_night() -> None:
    # Late July at Tromsø the sun sets just after midnight, and on 07-27 it sets twice
    # by the calendar (00:10 and 23:56): each belongs to its own night.
    first = night_sun(TROMSO, datetime.date(2026, 7, 26))
    second = night_sun(TROMSO, datetime.date(2026, 7, 27))

    assert first.case is SunCase.NORMAL
    assert first.sunset is not None
    assert first.sunset.date() == datetime.date(2026, 7, 27)
    assert first.sunset.time() < datetime.time(0, 30)
    assert second.sunset is not None
    assert second.sunset.date() == datetime.date(2026, 7, 27)
    assert second.sunset.time() > datetime.time(23, 30)
    assert first.twilight is SunCase.POLAR_DAY  # white night: no civil dusk
    assert first.dusk is None


def test_the_night_the_polar_night_begins_keeps_its_last_sunset() -> None:
    sun = night_sun(MURMANSK, datetime.date(2026, 12, 1))

    assert sun.case is SunCase.POLAR_NIGHT
    assert sun.sunset is not None
    assert sun.sunset.date() == datetime.date(2026, 12, 1)
    assert sun.sunset.time() > datetime.time(12, 0)  # the last day starts after local noon
    assert sun.sunrise is None
    assert night_sun(MURMANSK, datetime.date(2026, 12, 2)).sunset is None


def test_a_short_day_after_local_noon_is_not_the_night_s_sunrise() -> None:
    # On 2026-11-30 the sun rises at 12:03 and sets at 13:08 local: both lie inside the
    # noon-to-noon window, but that sunrise comes before the night's sunset. The night's
    # sunrise, on 12-01, comes after noon: it is outside the night.
    sun = night_sun(MURMANSK, datetime.date(2026, 11, 30))

    assert sun.sunset is not None
    assert sun.sunset.time() > datetime.time(13, 0)
    assert sun.sunrise is None
    assert sun.case is SunCase.NORMAL  # the sun does rise on 12-01, just after noon


def test_southern_hemisphere_polar_cases() -> None:
    assert night_sun(MCMURDO, datetime.date(2026, 12, 21)).case is SunCase.POLAR_DAY
    winter = night_sun(MCMURDO, datetime.date(2026, 6, 21))
    assert winter.case is SunCase.POLAR_NIGHT
    assert winter.twilight is SunCase.POLAR_NIGHT  # never even 6 degrees below
    assert winter.dusk is None


@pytest.mark.parametrize("latitude", [90.0, -90.0, 89.9, 0.0])
@pytest.mark.parametrize("month", [3, 6, 9, 12])
def test_no_crash_anywhere(latitude: float, month: int) -> None:
    site = Site("edge", latitude, 0.0, "UTC")
    sun = night_sun(site, datetime.date(2026, month, 21))

    for moment in (sun.sunset, sun.sunrise, sun.dusk, sun.dawn):
        assert moment is None or moment.tzinfo is not None


def test_a_datetime_is_refused_as_the_night_date() -> None:
    with pytest.raises(InvalidInstantError, match="local date"):
        night_sun(WEIFANG, datetime.datetime(2026, 6, 21, tzinfo=datetime.UTC))


@pytest.mark.parametrize("date", [datetime.date.min, datetime.date(1, 1, 2), datetime.date.max])
def test_the_ends_of_the_calendar_raise_a_schedule_error(date: datetime.date) -> None:
    with pytest.raises(SunComputationError) as caught:
        night_sun(WEIFANG, date)

    assert isinstance(caught.value, ScheduleError)


def _fixed_zone(longitude: float) -> tuple[str, int]:
    """The Etc zone nearest ``longitude`` (no daylight saving) and its offset in hours."""
    offset = round(longitude / 15)
    if offset == 0:
        return "UTC", 0
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}", offset  # POSIX signs


@pytest.mark.parametrize("latitude", range(-65, 66, 5))
def test_sunrise_and_sunset_match_noaa_within_a_minute(latitude: int) -> None:
    # Every fourth night of 2026, at three longitudes in turn; civil dusk and dawn too up to
    # 55 degrees (beyond, NOAA's two-pass spreadsheet cannot place twilight near white nights).
    compared = 0
    for number in range(0, 365, 4):
        date = datetime.date(2026, 1, 1) + datetime.timedelta(days=number)
        longitude = (-122.4, 13.4, 151.2)[number % 3]
        zone, offset = _fixed_zone(longitude)
        sun = night_sun(Site("grid", latitude, longitude, zone), date)
        tz = datetime.timezone(datetime.timedelta(hours=offset))
        events = [(sun.sunset, False, 90.833), (sun.sunrise, True, 90.833)]
        if abs(latitude) <= 55:
            events += [(sun.dusk, False, 96.0), (sun.dawn, True, 96.0)]
        assert sun.case is SunCase.NORMAL
        for moment, rising, zenith in events:
            assert moment is not None, (date, rising, zenith)
            local = moment.astimezone(tz).replace(tzinfo=None)
            expected = sun_event(
                latitude, longitude, local.date(), offset, rising=rising, zenith=zenith
            )
            assert abs(local - expected) < ONE_MINUTE, (date, rising, zenith, local, expected)
            compared += 1
        assert sun.sunset is not None
        assert sun.sunrise is not None
        assert sun.sunset < sun.solar_midnight < sun.sunrise
    assert compared >= 92 * 2
