"""Constants of the scheduling engine, in one place."""

from __future__ import annotations

import datetime
from datetime import time as wall_time
from typing import Final

#: A night runs from this local wall-clock time on its date to the same time the next day.
NIGHT_BOUNDARY: Final = wall_time(12, 0)

#: Lowest and highest dimming level of a step, in percent.
LEVEL_MIN: Final = 0
LEVEL_MAX: Final = 100

#: A solar anchor may be shifted by strictly less than this, either way.
MAX_SOLAR_OFFSET: Final = datetime.timedelta(hours=12)

#: Longest ramp (fade) of a step; the wire protocol carries at most an hour (``ramp_s``).
MAX_RAMP: Final = datetime.timedelta(hours=1)

#: Depression of the sun's centre below the horizon at civil dawn and dusk, in degrees.
CIVIL_DEPRESSION: Final = 6.0

#: Sun times are rounded to this resolution (astral returns microseconds).
SUN_TIME_RESOLUTION: Final = datetime.timedelta(seconds=1)

#: Anti-flap defaults: a program never lights the lamps for less than ``MIN_LIT`` and never
#: switches them off for less than ``MIN_GAP`` (a calendar may set its own).
MIN_LIT: Final = datetime.timedelta(minutes=10)
MIN_GAP: Final = datetime.timedelta(minutes=10)

#: ``validate`` looks at this many nights unless told otherwise.
YEAR_NIGHTS: Final = 365

#: A problem lists at most this many runs of dates in its text (all dates stay in ``dates``).
MAX_DATE_RUNS: Final = 6

#: Depression of the sun's centre below the geometric horizon at sunrise and sunset, in
#: degrees: 34' of refraction plus 16' of semi-diameter (NOAA, USNO, almanacs).
HORIZON_DEPRESSION: Final = 0.833
