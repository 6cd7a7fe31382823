"""Frozen domain values shared by the controller, the simulator and the protocol codecs.

Everything here is pure data with validation in ``__post_init__``; nothing does I/O.
Levels are absolute percentages (0 = off, 100 = full), never deltas, so that a command
applied twice has the effect of applying it once.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field

from lighting.errors import ProtocolError

LEVEL_MIN = 0
LEVEL_MAX = 100
_LAMP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_ZONE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_MAX_UINT = 2**63 - 1


def check_level(level: int, *, what: str = "level") -> int:
    """Return ``level`` if it is an integer percentage, else raise ``ProtocolError``."""
    if isinstance(level, bool) or not isinstance(level, int):
        raise ProtocolError(f"{what} must be an integer, got {type(level).__name__}")
    if not LEVEL_MIN <= level <= LEVEL_MAX:
        raise ProtocolError(f"{what} {level} is out of range {LEVEL_MIN}..{LEVEL_MAX}")
    return level


def check_lamp_id(lamp_id: str) -> str:
    """Return ``lamp_id`` if it is 1 to 64 safe characters, else raise ``ProtocolError``."""
    if not isinstance(lamp_id, str) or not _LAMP_ID.fullmatch(lamp_id):
        raise ProtocolError(f"lamp id {lamp_id!r} must be 1 to 64 of A-Z a-z 0-9 . _ : -")
    return lamp_id


def check_zone(zone: str) -> str:
    """Return ``zone`` if it is a lower-case slug of at most 64 characters."""
    if not isinstance(zone, str) or not _ZONE.fullmatch(zone):
        raise ProtocolError(f"zone {zone!r} must be 1 to 64 of a-z 0-9 _ -")
    return zone


def check_uint(value: int, *, what: str) -> int:
    """Return ``value`` if it is an unsigned integer that fits 63 bits."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_UINT:
        raise ProtocolError(f"{what} must be an unsigned integer below 2**63, got {value!r}")
    return value


def check_number(value: float, *, what: str, low: float, high: float) -> float:
    """Return ``value`` as a float if it is a finite number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"{what} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ProtocolError(f"{what} {value} is out of range {low}..{high}")
    return float(value)


class Severity(enum.StrEnum):
    """How urgently a fault needs a crew, after TALQ's alarm severities."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class FaultKind(enum.IntEnum):
    """The fault catalogue; the integer is the code on the wire (protocol v1).

    Codes follow TALQ's lamp monitor and uCIFI's 3416/3418 alarms; codes are never reused.
    """

    LAMP_FAILURE = 1
    DIMMING_FAILURE = 2
    POWER_HIGH = 3
    POWER_LOW = 4
    VOLTAGE_HIGH = 5
    VOLTAGE_LOW = 6
    POWER_FACTOR_LOW = 7
    RELAY_FAILURE = 8
    CYCLING = 9
    SUPPLY_LOSS = 10
    DRIVER_FAILURE = 11
    THERMAL_DERATING = 12
    THERMAL_SHUTDOWN = 13
    DAY_BURNER = 14
    NIGHT_OUTAGE = 15
    COMMS_LOST = 16
    UNREACHABLE = 17

    @property
    def slug(self) -> str:
        """The name used in the CLI, JSON and docs: ``lamp-failure``."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def from_slug(cls, slug: str) -> FaultKind:
        """The kind named ``slug`` (``lamp-failure``); ``ValueError`` if there is none."""
        try:
            return cls[slug.upper().replace("-", "_")]
        except KeyError:
            raise ValueError(f"unknown fault kind {slug!r}") from None

    @property
    def inferred(self) -> bool:
        """Found by the controller (never reported by a lamp)."""
        return self in _INFERRED

    @property
    def severity(self) -> Severity:
        return _FAULT_INFO[self][0]

    @property
    def description(self) -> str:
        return _FAULT_INFO[self][1]


_INFERRED = frozenset(
    {FaultKind.DAY_BURNER, FaultKind.NIGHT_OUTAGE, FaultKind.COMMS_LOST, FaultKind.UNREACHABLE}
)

_FAULT_INFO: dict[FaultKind, tuple[Severity, str]] = {
    FaultKind.LAMP_FAILURE: (Severity.MAJOR, "The lamp gives no light although it is switched on."),
    FaultKind.DIMMING_FAILURE: (Severity.MINOR, "The lamp does not follow the dimming level."),
    FaultKind.POWER_HIGH: (Severity.MINOR, "The lamp draws more power than its level calls for."),
    FaultKind.POWER_LOW: (Severity.MINOR, "The lamp draws less power than its level calls for."),
    FaultKind.VOLTAGE_HIGH: (Severity.MAJOR, "The supply voltage is above its limit."),
    FaultKind.VOLTAGE_LOW: (Severity.MAJOR, "The supply voltage is below its limit."),
    FaultKind.POWER_FACTOR_LOW: (Severity.WARNING, "The power factor is below its limit."),
    FaultKind.RELAY_FAILURE: (Severity.MAJOR, "The relay does not switch as commanded."),
    FaultKind.CYCLING: (Severity.MAJOR, "The lamp keeps switching itself off and on."),
    FaultKind.SUPPLY_LOSS: (Severity.CRITICAL, "The lamp has lost its mains supply."),
    FaultKind.DRIVER_FAILURE: (Severity.MAJOR, "The driver (control gear) has failed."),
    FaultKind.THERMAL_DERATING: (Severity.WARNING, "The driver dims the lamp to cool down."),
    FaultKind.THERMAL_SHUTDOWN: (Severity.MAJOR, "The driver switched the lamp off: too hot."),
    FaultKind.DAY_BURNER: (Severity.MINOR, "The lamp is lit while the plan says off."),
    FaultKind.NIGHT_OUTAGE: (Severity.MAJOR, "The lamp is off while the plan says on."),
    FaultKind.COMMS_LOST: (Severity.MAJOR, "The lamp has stopped reporting to the controller."),
    FaultKind.UNREACHABLE: (Severity.MAJOR, "Commands to the lamp go unanswered."),
}


@dataclass(frozen=True, slots=True)
class Command:
    """An absolute, idempotent order to a lamp: go to ``level`` (over ``ramp_s`` seconds).

    ``command_id`` is unique per controller; a lamp that sees the same id twice applies it
    once and answers the same acknowledgement.
    """

    command_id: int
    level: int
    ramp_s: int = 0

    def __post_init__(self) -> None:
        check_uint(self.command_id, what="command id")
        check_level(self.level)
        check_uint(self.ramp_s, what="ramp")
        if self.ramp_s > 3600:
            raise ProtocolError(f"ramp {self.ramp_s} s is longer than an hour")


@dataclass(frozen=True, slots=True)
class Ack:
    """A lamp's answer to a command: the command id it applied and the level it is at now."""

    command_id: int
    level: int

    def __post_init__(self) -> None:
        check_uint(self.command_id, what="command id")
        check_level(self.level)


@dataclass(frozen=True, slots=True)
class Registration:
    """A lamp announcing itself after power-up: who it is, where, and what it drives."""

    lamp_id: str
    seq: int
    zone: str
    latitude: float
    longitude: float
    wattage: float
    cell: str = ""
    firmware: str = ""
    report_period_s: int = 60
    queue_mode: bool = False
    """The lamp sleeps between uplinks and listens only shortly after each (LwM2M "UQ")."""

    def __post_init__(self) -> None:
        check_lamp_id(self.lamp_id)
        check_uint(self.seq, what="sequence number")
        check_zone(self.zone)
        check_number(self.latitude, what="latitude", low=-90, high=90)
        check_number(self.longitude, what="longitude", low=-180, high=180)
        check_number(self.wattage, what="wattage", low=0, high=5000)
        if len(self.cell) > 64 or len(self.firmware) > 64:
            raise ProtocolError("cell and firmware must be at most 64 characters")
        check_uint(self.report_period_s, what="report period")
        if not 1 <= self.report_period_s <= 86_400:
            raise ProtocolError(f"report period {self.report_period_s} s is out of range 1..86400")


@dataclass(frozen=True, slots=True)
class StateReport:
    """A lamp's periodic (or fault-triggered) report of its state and counters."""

    lamp_id: str
    seq: int
    level: int
    power_w: float
    energy_wh: float
    burning_s: int
    voltage_v: float | None = None
    last_command_id: int | None = None
    faults: frozenset[FaultKind] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        check_lamp_id(self.lamp_id)
        check_uint(self.seq, what="sequence number")
        check_level(self.level)
        check_number(self.power_w, what="power", low=0, high=10_000)
        check_number(self.energy_wh, what="energy", low=0, high=1e15)
        check_uint(self.burning_s, what="burning time")
        if self.voltage_v is not None:
            check_number(self.voltage_v, what="voltage", low=0, high=1000)
        if self.last_command_id is not None:
            check_uint(self.last_command_id, what="last command id")

    @property
    def lit(self) -> bool:
        """True if the lamp is switched on and gives light (no lamp failure)."""
        return self.level > 0 and FaultKind.LAMP_FAILURE not in self.faults


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A lamp saying at once that a fault appeared (``active``) or cleared."""

    lamp_id: str
    seq: int
    kind: FaultKind
    active: bool

    def __post_init__(self) -> None:
        check_lamp_id(self.lamp_id)
        check_uint(self.seq, what="sequence number")
