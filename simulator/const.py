"""The simulator's physical and radio constants, in one place."""

from __future__ import annotations

from typing import Final

NOMINAL_VOLTAGE_V: Final = 230.0
VOLTAGE_BAND: Final = (207.0, 253.0)
"""The supply band a node checks (230 V +-10 %, EN 50160); outside it says so."""
VOLTAGE_NOISE_V: Final = 0.5
"""Half-width of the noise on a voltage reading."""

SODIUM_BASE: Final = 0.2
"""A high-pressure sodium lamp dimmed to ``l`` draws about ``0.2 + 0.8 l`` of its rated power
(its ballast and arc do not scale down linearly as an LED driver does)."""
WARM_START: Final = 0.5
"""Power drawn when a lamp is struck, against its steady power; it rises linearly to 1 over
the model's warm-up (minutes for sodium, none for LED)."""

AMBIENT_C: Final = 20.0
HEATING_C: Final = 35.0
"""Temperature rise of the driver above ambient at full rated power."""
THERMAL_TAU_S: Final = 600.0
"""Time constant of the driver's temperature."""
DERATE_AT_C: Final = 80.0
DERATE_CLEAR_C: Final = 75.0
DERATED_LEVEL: Final = 50
"""While derating, the driver caps its output at this level."""
SHUTDOWN_AT_C: Final = 95.0
SHUTDOWN_CLEAR_C: Final = 70.0
OVERHEAT_C: Final = 60.0
"""Extra heat of an overheating lantern (blocked vents, a failing fan, a hot summer)."""

CYCLE_S: Final = 300.0
CYCLE_OFF_S: Final = 60.0
"""A cycling lamp (end of life) goes out for a minute every five."""

FAULT_VOLTAGE_SHIFT_V: Final = 32.0
"""How far an injected over- or under-voltage moves the supply (262 V, 198 V)."""
POWER_HIGH_SCALE: Final = 1.6
POWER_LOW_SCALE: Final = 0.5

MAX_PIECE_S: Final = 60.0
"""Energy and temperature are integrated over pieces no longer than this."""
