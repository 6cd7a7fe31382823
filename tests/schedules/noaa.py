"""An independent reference for sun times: the NOAA solar calculator's spreadsheet formulas.

Written from NOAA Global Monitoring Laboratory's "NOAA_Solar_Calculations_day.xls"
(https://gml.noaa.gov/grad/solcalc/calcdetails.html), column by column, to check
``schedules.sun`` (which goes through astral) against a second implementation. The
spreadsheet evaluates the sun's position at one time of day; here each event is evaluated
twice, the second time at the instant found by the first, as the online calculator does.
"""

from __future__ import annotations

import datetime
import math

_EXCEL_EPOCH = datetime.date(1899, 12, 30)


def _julian_century(date: datetime.date, day_fraction: float, utc_offset_hours: float) -> float:
    serial = (date - _EXCEL_EPOCH).days  # column D, the spreadsheet's date
    julian_day = serial + 2415018.5 + day_fraction - utc_offset_hours / 24  # column F
    return (julian_day - 2451545) / 36525  # column G


def _declination_and_equation_of_time(century: float) -> tuple[float, float]:
    """Columns I to V: the sun's declination (degrees) and the equation of time (minutes)."""
    mean_long = (280.46646 + century * (36000.76983 + century * 0.0003032)) % 360  # I
    mean_anom = 357.52911 + century * (35999.05029 - 0.0001537 * century)  # J
    eccent = 0.016708634 - century * (0.000042037 + 0.0000001267 * century)  # K
    eq_of_ctr = (
        math.sin(math.radians(mean_anom)) * (1.914602 - century * (0.004817 + 0.000014 * century))
        + math.sin(math.radians(2 * mean_anom)) * (0.019993 - 0.000101 * century)
        + math.sin(math.radians(3 * mean_anom)) * 0.000289
    )  # L
    true_long = mean_long + eq_of_ctr  # M
    omega = math.radians(125.04 - 1934.136 * century)
    app_long = true_long - 0.00569 - 0.00478 * math.sin(omega)  # P
    mean_obliq = (
        23
        + (26 + (21.448 - century * (46.815 + century * (0.00059 - century * 0.001813))) / 60) / 60
    )  # Q
    obliq = mean_obliq + 0.00256 * math.cos(omega)  # R
    declination = math.degrees(
        math.asin(math.sin(math.radians(obliq)) * math.sin(math.radians(app_long)))
    )  # T
    var_y = math.tan(math.radians(obliq / 2)) ** 2  # U
    l0, m = math.radians(mean_long), math.radians(mean_anom)
    equation_of_time = 4 * math.degrees(
        var_y * math.sin(2 * l0)
        - 2 * eccent * math.sin(m)
        + 4 * eccent * var_y * math.sin(m) * math.cos(2 * l0)
        - 0.5 * var_y * var_y * math.sin(4 * l0)
        - 1.25 * eccent * eccent * math.sin(2 * m)
    )  # V
    return declination, equation_of_time


def _event_fraction(
    latitude: float,
    longitude: float,
    century: float,
    *,
    utc_offset_hours: float,
    zenith: float,
    rising: bool,
) -> float:
    """Columns W to Z: the local time of the event as a fraction of the day."""
    declination, equation_of_time = _declination_and_equation_of_time(century)
    lat, dec = math.radians(latitude), math.radians(declination)
    hour_angle = math.degrees(
        math.acos(
            math.cos(math.radians(zenith)) / (math.cos(lat) * math.cos(dec))
            - math.tan(lat) * math.tan(dec)
        )
    )  # W
    solar_noon = (720 - 4 * longitude - equation_of_time + utc_offset_hours * 60) / 1440  # X
    return solar_noon + (-1 if rising else 1) * hour_angle * 4 / 1440  # Y, Z


def sun_event(
    latitude: float,
    longitude: float,
    date: datetime.date,
    utc_offset_hours: float,
    *,
    rising: bool,
    zenith: float = 90.833,
) -> datetime.datetime:
    """Local (naive) time of sunrise (``rising``) or sunset on ``date``; ``zenith`` 96 gives
    civil dawn and dusk."""
    fraction = 0.5
    for _ in range(2):
        century = _julian_century(date, fraction, utc_offset_hours)
        fraction = _event_fraction(
            latitude,
            longitude,
            century,
            utc_offset_hours=utc_offset_hours,
            zenith=zenith,
            rising=rising,
        )
    midnight = datetime.datetime.combine(date, datetime.time())
    return midnight + datetime.timedelta(days=fraction)
