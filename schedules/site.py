"""A lighting site: where the lamps are, and the zone their clocks read."""

from __future__ import annotations

import math
import zoneinfo
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from schedules.errors import InvalidSiteError

__all__ = ["Site"]


@dataclass(frozen=True, slots=True)
class Site:
    """A named place with coordinates in degrees and an IANA time zone.

    ``latitude`` is north-positive in [-90, 90], ``longitude`` east-positive in
    [-180, 180]; ``timezone`` must be a name ``zoneinfo`` can load ("Asia/Shanghai").
    """

    name: str
    latitude: float
    longitude: float
    timezone: str

    def __post_init__(self) -> None:
        _check_coordinate("latitude", self.latitude, 90.0)
        _check_coordinate("longitude", self.longitude, 180.0)
        _load_zone(self.timezone)

    @property
    def tzinfo(self) -> ZoneInfo:
        """The site's zone (``ZoneInfo`` caches instances, so this is cheap)."""
        return ZoneInfo(self.timezone)


def _check_coordinate(field: str, value: object, limit: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSiteError("must be a number of degrees", field=field, value=value)
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise InvalidSiteError(f"must be within -{limit:g}..{limit:g}", field=field, value=value)


def _load_zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise InvalidSiteError("must be an IANA time zone name", field="timezone", value=name)
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as err:
        # ValueError: keys zoneinfo refuses outright ("../x", absolute paths, NUL bytes);
        # OSError: a directory of the database rather than a zone ("Europe").
        raise InvalidSiteError(
            "is not a time zone known to zoneinfo", field="timezone", value=name
        ) from err
