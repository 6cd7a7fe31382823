"""The sun events that bound one night at a site: the only module that calls astral.

A night runs from local noon of its date to local noon of the next day (``night_window``).
Its sunset is the sunset inside that window, its sunrise the sunrise inside it, and the
same for civil dusk and dawn.

Sunrise and sunset follow the almanac convention of NOAA and the USNO: the sun's centre
0.833 degrees below the geometric horizon (34' of refraction and 16' of semi-diameter);
civil dusk and dawn: 6 degrees below, geometric. (astral's own ``sunrise`` adds a computed
refraction of about 0.52 degrees instead, which moves the events by up to two minutes at
65 degrees of latitude.) We ask astral for the time at that elevation
(``time_at_elevation``, refraction off), which answers one event per UTC date; a night
spans two local dates, and near the polar circles a date holds no sunset (the sunset drifts
past midnight) or two (it drifts back). So we ask for each of the four dates around the
night and keep the earliest answer inside the night. astral's ``ValueError`` ("the sun
never reaches that elevation") only means "not on that date".

astral reads the sun's declination once per date, so on the few nights around the start
and end of polar day or night it misses a brief crossing; then the sun's elevation is
searched for it directly (``_Crossings``). Whether an event is missing because the sun
stays up or stays down is decided from the sun's elevation at solar midnight and solar
noon, as home-assistant does (``homeassistant/helpers/sun.py`` returns ``None`` for an
event that does not occur), and reported as ``SunCase.POLAR_DAY`` / ``SunCase.POLAR_NIGHT``.
"""

from __future__ import annotations

import datetime
import enum
import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import astral
import astral.sun

from schedules.const import CIVIL_DEPRESSION, HORIZON_DEPRESSION, SUN_TIME_RESOLUTION
from schedules.errors import InvalidInstantError, SunComputationError
from schedules.site import Site
from schedules.wallclock import night_window, utc

__all__ = ["NightSun", "SunCase", "night_sun"]

logger = logging.getLogger(__name__)

_UTC = datetime.UTC
_HALF_DAY = datetime.timedelta(hours=12)


_HORIZON = -HORIZON_DEPRESSION  # geometric elevation of the sun's centre at sunrise/sunset
_CIVIL = -CIVIL_DEPRESSION  # ... at civil dawn and dusk

_AstralEvent = Callable[[astral.Observer, datetime.date], datetime.datetime]


class SunCase(enum.Enum):
    """Whether the sun crosses an elevation during a night, or stays on one side of it."""

    NORMAL = "normal"
    POLAR_DAY = "polar-day"  # the sun stays above: it does not set
    POLAR_NIGHT = "polar-night"  # the sun stays below: it does not rise


@dataclass(frozen=True, slots=True)
class NightSun:
    """The sun events of the night of ``date``, as aware datetimes in the site's zone.

    ``sunset`` and ``dusk`` fall between noon of ``date`` and solar midnight, ``sunrise``
    and ``dawn`` between solar midnight and noon of ``date + 1``; each is ``None`` when it
    does not happen there. ``case`` classifies the horizon (sunset and sunrise): in polar day and
    polar night they are ``None``, except on the night the polar night begins, when the
    last sunset is kept. ``twilight`` is the same classification for civil twilight, the
    sun 6 degrees below the horizon: ``POLAR_DAY`` there is a white night (it never gets
    dark enough for dusk), ``POLAR_NIGHT`` a day that never gets light enough for dawn.
    Times are rounded to the second.
    """

    date: datetime.date
    case: SunCase
    sunset: datetime.datetime | None
    sunrise: datetime.datetime | None
    dusk: datetime.datetime | None
    dawn: datetime.datetime | None
    solar_midnight: datetime.datetime
    twilight: SunCase = SunCase.NORMAL


@functools.lru_cache(maxsize=8192)
def night_sun(site: Site, date: datetime.date) -> NightSun:
    """Sunset, dusk, dawn, sunrise and solar midnight of the night of ``date`` at ``site``.

    Pure, and the same for every zone of a site: results are memoised (a city plans
    hundreds of zones per night, and astral is most of the cost of a plan).

    ``date`` is the local date of the evening; a ``datetime`` is refused, because its UTC
    date is often not the local date of the night.
    """
    if isinstance(date, datetime.datetime):
        raise InvalidInstantError("pass the local date of the night, not a datetime", value=date)
    tz = site.tzinfo
    try:
        days = [date + datetime.timedelta(days=shift) for shift in (-1, 0, 1, 2)]
    except OverflowError as err:
        raise SunComputationError("too close to the ends of the calendar", date=date) from err
    start, end = night_window(date, tz)
    observer = astral.Observer(latitude=site.latitude, longitude=site.longitude, elevation=0.0)

    midnight = _solar_midnight(observer, days, start, end, tz)

    def find(event: _AstralEvent, *, evening: bool) -> datetime.datetime | None:
        # A night's sunset comes before its solar midnight and its sunrise after it: near
        # the polar circles a short day can fall just after local noon, inside the window.
        low, high = (start, midnight) if evening else (midnight, end)
        return _first_inside(_ask(event, observer, days), low, high, tz)

    elevations = _Elevations.at(observer, midnight)
    # astral reads the sun's declination once per date, so on the few nights around the
    # start and end of polar day or night it misses a brief crossing of the horizon (or of
    # -6 degrees); the sun's elevation itself is then searched for the crossing.
    crossing = _Crossings(observer, midnight, start, end, tz)
    sunset = find(_sunset, evening=True) or crossing.find(_HORIZON, evening=True)
    sunrise = find(_sunrise, evening=False) or crossing.find(_HORIZON, evening=False)
    dusk = find(_dusk, evening=True) or crossing.find(_CIVIL, evening=True)
    dawn = find(_dawn, evening=False) or crossing.find(_CIVIL, evening=False)
    night = NightSun(
        date=date,
        case=elevations.classify(sunset, sunrise, _HORIZON),
        sunset=sunset,
        sunrise=sunrise,
        dusk=dusk,
        dawn=dawn,
        solar_midnight=midnight,
        twilight=elevations.classify(dusk, dawn, _CIVIL),
    )
    if night.case is not SunCase.NORMAL:
        logger.debug("%s on the night of %s at %s", night.case.value, date, site.name)
    return night


def _at_elevation(elevation: float, direction: astral.SunDirection) -> _AstralEvent:
    """astral's time at a geometric ``elevation`` on a UTC date, refraction off."""

    def event(observer: astral.Observer, day: datetime.date) -> datetime.datetime:
        return astral.sun.time_at_elevation(
            observer, elevation, day, direction, tzinfo=_UTC, with_refraction=False
        )

    return event


_sunset = _at_elevation(_HORIZON, astral.SunDirection.SETTING)
_sunrise = _at_elevation(_HORIZON, astral.SunDirection.RISING)
_dusk = _at_elevation(_CIVIL, astral.SunDirection.SETTING)
_dawn = _at_elevation(_CIVIL, astral.SunDirection.RISING)


def _ask(
    event: _AstralEvent, observer: astral.Observer, days: Iterable[datetime.date]
) -> list[datetime.datetime]:
    """Every answer astral gives for ``days`` (UTC dates)."""
    found = []
    for day in days:
        try:
            found.append(event(observer, day))
        except ValueError:
            continue  # the sun does not reach that elevation on that date (polar day or night)
        except ArithmeticError as err:  # OverflowError at the ends of the calendar
            raise SunComputationError(f"astral failed: {err}", date=day) from err
    return found


def _first_inside(
    candidates: Iterable[datetime.datetime],
    start: datetime.datetime,
    end: datetime.datetime,
    tz: datetime.tzinfo,
) -> datetime.datetime | None:
    inside = [moment for moment in map(_round, candidates) if utc(start) <= moment < utc(end)]
    return min(inside).astimezone(tz) if inside else None


def _solar_midnight(
    observer: astral.Observer,
    days: Iterable[datetime.date],
    start: datetime.datetime,
    end: datetime.datetime,
    tz: datetime.tzinfo,
) -> datetime.datetime:
    """astral's solar midnight nearest the middle of the night (astral's is per UTC day)."""
    middle = utc(start) + (utc(end) - utc(start)) / 2
    try:
        candidates = [utc(astral.sun.midnight(observer, day, tzinfo=tz)) for day in days]
    except (ValueError, ArithmeticError) as err:
        raise SunComputationError(
            f"astral failed on solar midnight: {err}", date=start.date()
        ) from err
    return min(candidates, key=lambda moment: abs(moment - middle)).astimezone(tz)


@dataclass(frozen=True, slots=True)
class _Elevations:
    """Geometric elevation of the sun at solar midnight and at the two solar noons around it."""

    midnight: float
    lowest_noon: float

    @classmethod
    def at(cls, observer: astral.Observer, midnight: datetime.datetime) -> _Elevations:
        def elevation(moment: datetime.datetime) -> float:
            return astral.sun.elevation(observer, utc(moment), with_refraction=False)

        noons = (utc(midnight) - _HALF_DAY, utc(midnight) + _HALF_DAY)
        return cls(elevation(midnight), min(elevation(noon) for noon in noons))

    def classify(
        self,
        evening: datetime.datetime | None,
        morning: datetime.datetime | None,
        threshold: float,
    ) -> SunCase:
        """NORMAL when both events happen; otherwise say which side of ``threshold`` the
        sun stays on. A missing event with the sun crossing ``threshold`` both at midnight
        and at noon lies just outside the noon-to-noon window: still NORMAL."""
        if evening is not None and morning is not None:
            return SunCase.NORMAL
        if self.midnight > threshold:
            return SunCase.POLAR_DAY
        if self.lowest_noon < threshold:
            return SunCase.POLAR_NIGHT
        return SunCase.NORMAL


@dataclass(frozen=True, slots=True)
class _Crossings:
    """Where the sun's elevation crosses a threshold between solar midnight and the solar
    noons either side of it, found by bisection to the second."""

    observer: astral.Observer
    midnight: datetime.datetime
    start: datetime.datetime
    end: datetime.datetime
    tz: datetime.tzinfo

    def find(self, threshold: float, *, evening: bool) -> datetime.datetime | None:
        midnight = utc(self.midnight)
        noon = midnight - _HALF_DAY if evening else midnight + _HALF_DAY
        if not self._elevation(midnight) < threshold < self._elevation(noon):
            return None  # no crossing: the sun stays on one side (or astral already knew)
        below, above = midnight, noon
        while abs(above - below) > SUN_TIME_RESOLUTION:
            middle = below + (above - below) / 2
            if self._elevation(middle) < threshold:
                below = middle
            else:
                above = middle
        found = _round(below + (above - below) / 2)
        return found.astimezone(self.tz) if utc(self.start) <= found < utc(self.end) else None

    def _elevation(self, moment: datetime.datetime) -> float:
        return astral.sun.elevation(self.observer, moment, with_refraction=False)


def _round(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` in UTC, rounded to ``SUN_TIME_RESOLUTION``."""
    instant = utc(moment)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
    return epoch + round((instant - epoch) / SUN_TIME_RESOLUTION) * SUN_TIME_RESOLUTION
