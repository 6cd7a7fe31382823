"""Constants of the scheduling engine, in one place."""

from __future__ import annotations

import datetime
from typing import Final

#: A night runs from this local wall-clock time on its date to the same time the next day.
NIGHT_BOUNDARY: Final = datetime.time(12, 0)

#: Lowest and highest dimming level of a step, in percent.
LEVEL_MIN: Final = 0
LEVEL_MAX: Final = 100

#: A solar anchor may be shifted by strictly less than this, either way.
MAX_SOLAR_OFFSET: Final = datetime.timedelta(hours=12)

#: Depression of the sun's centre below the horizon at civil dawn and dusk, in degrees.
CIVIL_DEPRESSION: Final = 6.0

#: Sun times are rounded to this resolution (astral returns microseconds).
SUN_TIME_RESOLUTION: Final = datetime.timedelta(seconds=1)
