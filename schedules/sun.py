"""The sun events that bound one night at a site: the only module that calls astral.

A night runs from local noon of its date to local noon of the next day (``night_window``).
Its sunset is the sunset inside that window, its sunrise the sunrise inside it, and the
same for civil dusk and dawn.

astral answers "the sunset on this date in this zone": one event per date, computed on the
UTC day and shifted by a day when it lands on another local date. We always pass the date
*and* a zone, but a night spans two local dates, and near the polar circles a local date
holds no sunset (the sunset drifts past midnight) or two (it drifts back). So we ask astral
for each of the four dates around the night, once with the site's zone and once with UTC
explicitly, and keep the earliest answer that falls inside the night. astral's
``ValueError`` ("the sun never reaches that elevation", "unable to find ... on the date")
only means "not on that date"; whether an event is missing because the sun stays up or
stays down is then decided from the sun's elevation at solar midnight and solar noon,
as home-assistant does (``homeassistant/helpers/sun.py`` returns ``None`` for an event that
does not occur), and reported as ``SunCase.POLAR_DAY`` / ``SunCase.POLAR_NIGHT``.
"""

from __future__ import annotations

import datetime
import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import astral
import astral.sun

from schedules.const import CIVIL_DEPRESSION, SUN_TIME_RESOLUTION
from schedules.errors import InvalidInstantError, SunComputationError
from schedules.site import Site
from schedules.wallclock import night_window, utc

__all__ = ["NightSun", "SunCase", "night_sun"]

logger = logging.getLogger(__name__)

_UTC = datetime.UTC
_HALF_DAY = datetime.timedelta(hours=12)


def _astral_elevation(depression: float) -> float:
    """The geometric elevation astral looks for when asked for ``depression``: it adds the
    refraction at that zenith (about -0.79 degrees for sunrise, -6.05 for civil dawn)."""
    return -(depression + astral.refraction_at_zenith(90.0 + depression))


_HORIZON = _astral_elevation(astral.sun.SUN_APPARENT_RADIUS)
_CIVIL = _astral_elevation(CIVIL_DEPRESSION)

_AstralEvent = Callable[[astral.Observer, datetime.date, datetime.tzinfo], datetime.datetime]


class SunCase(enum.Enum):
    """Whether the sun crosses an elevation during a night, or stays on one side of it."""

    NORMAL = "normal"
    POLAR_DAY = "polar-day"  # the sun stays above: it does not set
    POLAR_NIGHT = "polar-night"  # the sun stays below: it does not rise


@dataclass(frozen=True, slots=True)
class NightSun:
    """The sun events of the night of ``date``, as aware datetimes in the site's zone.

    ``sunset`` and ``dusk`` fall on the evening of ``date``, ``sunrise`` and ``dawn`` on
    the morning of ``date + 1``; each is ``None`` when it does not happen inside the night
    (noon to noon). ``case`` classifies the horizon (sunset and sunrise): in polar day and
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


def night_sun(site: Site, date: datetime.date) -> NightSun:
    """Sunset, dusk, dawn, sunrise and solar midnight of the night of ``date`` at ``site``.

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

    def find(event: _AstralEvent) -> datetime.datetime | None:
        return _first_inside(_ask(event, observer, days, tz), start, end, tz)

    sunset = find(_sunset)
    sunrise = find(_sunrise)
    dusk = find(_dusk)
    dawn = find(_dawn)
    midnight = _solar_midnight(observer, days, start, end, tz)
    elevations = _Elevations.at(observer, midnight)
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


# astral's functions, called with a date and an explicit zone, never with the defaults.
def _sunset(
    observer: astral.Observer, day: datetime.date, tz: datetime.tzinfo
) -> datetime.datetime:
    return astral.sun.sunset(observer, day, tzinfo=tz)


def _sunrise(
    observer: astral.Observer, day: datetime.date, tz: datetime.tzinfo
) -> datetime.datetime:
    return astral.sun.sunrise(observer, day, tzinfo=tz)


def _dusk(observer: astral.Observer, day: datetime.date, tz: datetime.tzinfo) -> datetime.datetime:
    return astral.sun.dusk(observer, day, depression=CIVIL_DEPRESSION, tzinfo=tz)


def _dawn(observer: astral.Observer, day: datetime.date, tz: datetime.tzinfo) -> datetime.datetime:
    return astral.sun.dawn(observer, day, depression=CIVIL_DEPRESSION, tzinfo=tz)


def _ask(
    event: _AstralEvent,
    observer: astral.Observer,
    days: Iterable[datetime.date],
    tz: datetime.tzinfo,
) -> list[datetime.datetime]:
    """Every answer astral gives for ``days``, read in the site's zone and in UTC."""
    found = []
    for zone in (tz, _UTC):
        for day in days:
            try:
                found.append(event(observer, day, zone))
            except ValueError:
                continue  # the event does not happen on that date (polar day or night)
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


def _round(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` in UTC, rounded to ``SUN_TIME_RESOLUTION``."""
    instant = utc(moment)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
    return epoch + round((instant - epoch) / SUN_TIME_RESOLUTION) * SUN_TIME_RESOLUTION
