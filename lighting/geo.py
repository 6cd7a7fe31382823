"""Distances on the ground, for the field crew's "what is broken near me".

Pure: great-circle distance (haversine on a sphere of the Earth's mean radius, good to
0.5 % at city scale) and the parsing of ``--near 36.71,119.16`` and ``--within 2km``.
"""

from __future__ import annotations

import math
import re

EARTH_RADIUS_M = 6_371_008.8
_DISTANCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km|m)?\s*$", re.IGNORECASE)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def parse_point(text: str) -> tuple[float, float]:
    """``"36.71,119.16"`` as (latitude, longitude); ``ValueError`` with the reason."""
    parts = text.replace(" ", "").split(",")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not LAT,LON (for example 36.71,119.16)")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{text!r} is not LAT,LON (for example 36.71,119.16)") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"{text!r} is off the globe: latitude -90..90, longitude -180..180")
    return lat, lon


def parse_distance(text: str) -> float:
    """``"2km"``, ``"500m"`` or ``"800"`` (metres) in metres; ``ValueError`` otherwise."""
    match = _DISTANCE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a distance such as 2km or 500m")
    value = float(match.group(1))
    return value * 1000 if (match.group(2) or "m").lower() == "km" else value
