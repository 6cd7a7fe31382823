"""The faults a simulated city can suffer, and what each does to a lamp (pure).

Each kind acts on the physics of the lamp; what the controller then sees is in the
protocol's own terms (fault codes of ``lighting.model.FaultKind``, v1 keys):

- lamp-failure, driver-failure, relay-failure: dark whatever the level; the lamp's fault
  event and fault list say 1, 11 or 8; power 0.
- dimming-failure: full output whenever lit; fault 2, the power of 100 % at a dimmed level.
- cycling: out for a minute every five; fault 9, power 0 in the off minutes.
- voltage-high, voltage-low: the supply moves 32 V; faults 5 or 6, and the voltage (key 17).
- overheating: the lantern runs 60 C hotter; fault 12 (derating to 50 %), then 13
  (shutdown) if it keeps heating.
- power-high, power-low: an ageing driver, a half-dead array; only the power (key 4)
  shows it: the controller infers 3 or 4.
- day-burner: the relay is welded shut; level 0 with full power: the controller infers 14.
- supply-loss: the cabinet's supply goes; a last-gasp fault 10, then silence (the
  controller infers 16); when it returns, a registration.
- reboot: the node restarts; a registration, its sequence numbers start again, its level
  is lost (the controller sends it again).
- cell-silent: the base station drops everything; silence, the controller infers 16, 17.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lighting.model import FaultEvent, FaultKind
from simulator.const import FAULT_VOLTAGE_SHIFT_V, OVERHEAT_C, POWER_HIGH_SCALE, POWER_LOW_SCALE
from simulator.lamp import Lamp


class SimFault(enum.StrEnum):
    """A fault the simulator can inject (``lighting sim fault --kind``)."""

    LAMP_FAILURE = "lamp-failure"
    DIMMING_FAILURE = "dimming-failure"
    POWER_HIGH = "power-high"
    POWER_LOW = "power-low"
    VOLTAGE_HIGH = "voltage-high"
    VOLTAGE_LOW = "voltage-low"
    RELAY_FAILURE = "relay-failure"
    CYCLING = "cycling"
    SUPPLY_LOSS = "supply-loss"
    DRIVER_FAILURE = "driver-failure"
    OVERHEATING = "overheating"
    DAY_BURNER = "day-burner"
    CELL_SILENT = "cell-silent"
    REBOOT = "reboot"

    @property
    def momentary(self) -> bool:
        """A fault that happens once and is over (a reboot), with nothing to clear."""
        return self is SimFault.REBOOT


_REPORTED = {
    SimFault.LAMP_FAILURE: FaultKind.LAMP_FAILURE,
    SimFault.DIMMING_FAILURE: FaultKind.DIMMING_FAILURE,
    SimFault.RELAY_FAILURE: FaultKind.RELAY_FAILURE,
    SimFault.CYCLING: FaultKind.CYCLING,
    SimFault.DRIVER_FAILURE: FaultKind.DRIVER_FAILURE,
}
"""Faults the node sees itself and reports as they are."""


class Power(enum.Enum):
    """What a fault did to the node's supply."""

    OFF = "off"
    """The node lost its supply: it is off the air."""
    ON = "on"
    """The node booted: it must register again."""


@dataclass(frozen=True, slots=True)
class Effect:
    """What the node must do after a fault changed its lamp: send ``events`` (before the
    supply goes, for a last gasp), and follow ``power``."""

    events: tuple[FaultEvent, ...] = ()
    power: Power | None = None


def apply_fault(  # noqa: PLR0911 - one return per kind of fault
    lamp: Lamp, kind: SimFault, active: bool, now: float
) -> Effect:
    """Raise (``active``) or clear ``kind`` on ``lamp`` at ``now``."""
    if kind is SimFault.CELL_SILENT:
        raise ValueError("cell-silent is a fault of a cell, not of a lamp")
    if kind in _REPORTED:
        event = lamp.set_fault(_REPORTED[kind], active, now)
        return Effect(() if event is None else (event,))
    if kind is SimFault.POWER_HIGH or kind is SimFault.POWER_LOW:
        lamp.advance(now)
        scale = POWER_HIGH_SCALE if kind is SimFault.POWER_HIGH else POWER_LOW_SCALE
        lamp.power_scale = scale if active else 1.0
        return Effect()
    if kind is SimFault.VOLTAGE_HIGH or kind is SimFault.VOLTAGE_LOW:
        sign = 1 if kind is SimFault.VOLTAGE_HIGH else -1
        return Effect(tuple(lamp.set_supply(sign * FAULT_VOLTAGE_SHIFT_V if active else 0, now)))
    if kind is SimFault.OVERHEATING:
        lamp.advance(now)
        lamp.heat_c = OVERHEAT_C if active else 0.0
        return Effect()
    if kind is SimFault.DAY_BURNER:
        lamp.advance(now)
        lamp.relay_stuck = True if active else None
        return Effect()
    if kind is SimFault.SUPPLY_LOSS:
        if active == (not lamp.powered):
            return Effect()
        if active:
            # The node's capacitor holds for one last message: the supply is gone.
            event = lamp.set_fault(FaultKind.SUPPLY_LOSS, True, now)
            lamp.power_off(now)
            return Effect(() if event is None else (event,), Power.OFF)
        lamp.power_on(now)
        return Effect(power=Power.ON)
    # A reboot: off and on at once.
    if not active or not lamp.powered:
        return Effect()
    lamp.power_off(now)
    lamp.power_on(now)
    return Effect(power=Power.ON)
