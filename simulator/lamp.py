"""A simulated lamp node as a pure state machine: no clock, no sockets.

Time comes in as ``now``, seconds on any monotonic scale; ``Lamp.epoch`` turns it into POSIX
time for the lamp's own program. The lamp applies absolute, idempotent commands (with their
ramp), draws power according to its level, its type (LED or sodium, minimum dim level,
warm-up) and its faults, integrates energy, burning time and the driver's temperature, and
numbers every uplink with one sequence counter.

When it has not heard from the controller for ``Fallback.after_s`` (and after a power-up)
a lamp with a fallback program lights by that program; the next command hands it back.

Faults the node can see itself (``faults``) are reported; conditions it cannot see (a relay
welded shut, an ageing driver) only show in what it measures. Faults it finds by itself
(supply out of band, thermal derating and shutdown) are raised in ``events`` for the node
to send.
"""

from __future__ import annotations

import datetime
import enum
import math
from dataclasses import dataclass, field

from lighting.model import Ack, Command, FaultEvent, FaultKind, Registration, StateReport
from simulator.const import (
    AMBIENT_C,
    CYCLE_OFF_S,
    CYCLE_S,
    DERATE_AT_C,
    DERATE_CLEAR_C,
    DERATED_LEVEL,
    HEATING_C,
    MAX_PIECE_S,
    NOMINAL_VOLTAGE_V,
    SHUTDOWN_AT_C,
    SHUTDOWN_CLEAR_C,
    SODIUM_BASE,
    THERMAL_TAU_S,
    VOLTAGE_BAND,
    VOLTAGE_NOISE_V,
    WARM_START,
)
from simulator.fallback import Fallback

_DARK = frozenset(
    {
        FaultKind.LAMP_FAILURE,
        FaultKind.DRIVER_FAILURE,
        FaultKind.RELAY_FAILURE,
        FaultKind.THERMAL_SHUTDOWN,
    }
)
"""Faults that leave the lamp dark whatever its level."""
_MASK = 2**64 - 1
_GAUSS = (0.5 - math.sqrt(3) / 6, 0.5 + math.sqrt(3) / 6)


class LampKind(enum.StrEnum):
    """What gives the light."""

    LED = "led"
    SODIUM = "sodium"


def power_curve(kind: LampKind, fraction: float) -> float:
    """Power drawn at light output ``fraction`` (0 to 1), as a fraction of rated power."""
    if fraction <= 0:
        return 0.0
    if kind is LampKind.SODIUM:
        return SODIUM_BASE + (1 - SODIUM_BASE) * fraction
    return fraction


def unit_noise(seed: int, n: int) -> float:
    """A reproducible number in [-1, 1) for (``seed``, ``n``): splitmix64, no state kept."""
    z = (seed * 0x9E3779B97F4A7C15 + (n + 1) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    return z / 2**63 - 1.0


@dataclass(frozen=True, slots=True)
class LampSpec:
    """What a lamp is: identity, place, what it drives, and where it listens."""

    lamp_id: str
    zone: str
    latitude: float
    longitude: float
    wattage: float
    address: str
    port: int
    cell: str = ""
    report_period_s: int = 60
    firmware: str = "citylight-sim/1"
    sleepy: bool = False
    """Queue mode: the lamp listens only for ``wake_window_s`` after each uplink."""
    wake_window_s: float = 10.0
    kind: LampKind = LampKind.LED
    model: str = ""
    min_level: int = 0
    """The lowest level the driver can dim to; a lower level above 0 gives this one."""
    warmup_s: float = 0.0
    cabinet: str = ""
    """The feeder pillar that supplies the lamp: a supply loss takes all its lamps."""
    efficiency: float = 1.0
    """This unit's power draw against its model's rating (the spread between units)."""
    power_noise: float = 0.0
    """Half-width of the noise on a power reading, as a fraction of the reading."""
    voltage_offset_v: float = 0.0
    """The lamp's own supply against nominal (the drop along its feeder)."""
    noise_seed: int = 0
    fallback: Fallback | None = None
    """The program the lamp runs by itself when the controller is quiet (None: it holds)."""


@dataclass(slots=True)
class Lamp:
    """The changing state of one lamp."""

    spec: LampSpec
    level: int = 0
    """The level in force: the controller's last command, or the lamp's own program."""
    energy_wh: float = 0.0
    burning_s: float = 0.0
    seq: int = 0
    last_command_id: int | None = None
    faults: set[FaultKind] = field(default_factory=set)
    commands_applied: int = 0
    relay_stuck: bool | None = None
    """A relay welded shut (True: lit at full power whatever the level, a day-burner) or
    open (False: dark whatever the level). The lamp does not know: it reports its level."""
    power_scale: float = 1.0
    """Power drawn against the rated power at a level: above 1 an ageing driver, below 1 a
    partly failed LED array. The lamp does not know either."""
    voltage_shift_v: float = 0.0
    """The supply moved away from its usual value (a fault upstream)."""
    heat_c: float = 0.0
    """Extra heat in the lantern (overheating)."""
    temperature_c: float = AMBIENT_C
    powered: bool = True
    autonomous: bool = False
    """Lit by its own program (``spec.fallback``) rather than by the controller."""
    last_heard: float | None = None
    """When the controller last answered or commanded (None: not since power-up)."""
    epoch: float = 0.0
    """Seconds to add to ``now`` for POSIX time (the lamp's wall clock)."""
    events: list[FaultEvent] = field(default_factory=list)
    """Fault events the lamp raised by itself, for the node to send."""
    _clock: float | None = None
    _boot: float | None = None
    _ramp_from: float = 0.0
    _ramp_start: float = 0.0
    _ramp_end: float = 0.0
    _lit_since: float | None = None
    _cycle_from: float = 0.0
    _fallback_done: float | None = None
    """POSIX time of the last change of its own program the lamp carried out."""

    # -- light and power ----------------------------------------------------------------

    def _position(self, t: float) -> float:
        """The commanded level at ``t``, along the ramp if one is running."""
        if t >= self._ramp_end or self._ramp_end <= self._ramp_start:
            return float(self.level)
        share = (t - self._ramp_start) / (self._ramp_end - self._ramp_start)
        return self._ramp_from + (self.level - self._ramp_from) * max(share, 0.0)

    def output(self, t: float) -> float:
        """The light output at ``t``, in percent (what the lamp really does)."""
        if not self.powered or self.relay_stuck is False or self.faults & _DARK:
            return 0.0
        if FaultKind.CYCLING in self.faults and (t - self._cycle_from) % CYCLE_S >= (
            CYCLE_S - CYCLE_OFF_S
        ):
            return 0.0
        if self.relay_stuck:
            return 100.0
        level = self._position(t)
        if level <= 0:
            return 0.0
        if FaultKind.DIMMING_FAILURE in self.faults:
            level = 100.0
        level = max(level, float(self.spec.min_level))
        if FaultKind.THERMAL_DERATING in self.faults:
            level = min(level, float(DERATED_LEVEL))
        return level

    def power_at(self, t: float) -> float:
        """Power drawn at ``t`` (watts): the curve of the lamp's type, warm-up, ageing."""
        out = self.output(t)
        if out <= 0:
            return 0.0
        spec = self.spec
        warm = 1.0
        if spec.warmup_s > 0 and self._lit_since is not None:
            warm = WARM_START + (1 - WARM_START) * min((t - self._lit_since) / spec.warmup_s, 1.0)
        scale = spec.efficiency * self.power_scale
        return spec.wattage * power_curve(spec.kind, out / 100) * warm * scale

    @property
    def power_w(self) -> float:
        """Power drawn now (as of the last time the lamp was advanced to)."""
        return self.power_at(self._clock if self._clock is not None else 0.0)

    @property
    def voltage_v(self) -> float:
        """The supply at the lamp now (0 without supply)."""
        if not self.powered:
            return 0.0
        return NOMINAL_VOLTAGE_V + self.spec.voltage_offset_v + self.voltage_shift_v

    # -- time -----------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Integrate energy, burning time and temperature up to ``now``, running the lamp's
        own program when the controller has been quiet long enough."""
        if self._clock is None:
            self._clock = now
            self._boot_at(now)
            return
        fallback = self.spec.fallback
        while now > self._clock:
            step_to, move = now, None
            if fallback is not None and self.powered:
                step_to, move = self._next_move(fallback, now)
            self._integrate(self._clock, step_to)
            self._clock = step_to
            if move is not None:
                level, ramp_s, self._fallback_done = move
                self.autonomous = True
                self._set_level(level, step_to, ramp_s)

    def _boot_at(self, now: float) -> None:
        """Power-up: with a program of its own the lamp lights by it until told otherwise."""
        self._boot = now
        fallback = self.spec.fallback
        self.autonomous = fallback is not None and self.powered
        if fallback is not None and self.powered:
            self._fallback_done = now + self.epoch
            self._set_level(fallback.level_at(self._wall(now)), now, 0.0)
        else:
            self._relight(now)

    def _silent_since(self) -> float:
        if self.last_heard is not None:
            return self.last_heard
        return self._boot if self._boot is not None else 0.0

    def _wall(self, t: float) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(t + self.epoch, datetime.UTC)

    def _next_move(
        self, fallback: Fallback, now: float
    ) -> tuple[float, tuple[int, float, float] | None]:
        """The next instant up to ``now`` where the lamp's own program acts, and what it
        does then (level, ramp seconds, the program's POSIX time)."""
        clock = self._clock if self._clock is not None else now
        epoch = self.epoch
        if not self.autonomous:
            takeover = self._silent_since() + fallback.after_s
            if takeover > now:
                return now, None
            moment = max(takeover, clock)
            return moment, (fallback.level_at(self._wall(moment)), 0.0, moment + epoch)
        start = clock + epoch
        if self._fallback_done is not None and self._fallback_done > start:
            start = self._fallback_done
        changes = fallback.changes(start, now + epoch)
        if not changes:
            return now, None
        at, level, ramp_s = changes[0]
        return min(max(at - epoch, clock), now), (level, ramp_s, at)

    def _breaks(self, a: float, b: float) -> list[float]:
        """Instants in (a, b) where power jumps or bends."""
        points = [self._ramp_end]
        if self._lit_since is not None and self.spec.warmup_s > 0:
            points.append(self._lit_since + self.spec.warmup_s)
        if FaultKind.CYCLING in self.faults:
            start = a - (a - self._cycle_from) % CYCLE_S
            while start < b:
                points += [start + CYCLE_S - CYCLE_OFF_S, start + CYCLE_S]
                start += CYCLE_S
        inside = sorted(p for p in points if a < p < b)
        pieces = []
        last = a
        for point in [*inside, b]:
            count = max(1, math.ceil((point - last) / MAX_PIECE_S))
            pieces += [last + (point - last) * i / count for i in range(1, count + 1)]
            last = point
        return pieces

    def _integrate(self, a: float, b: float) -> None:
        if b <= a:
            return
        for end in self._breaks(a, b):
            width = end - a
            # Two-point Gauss-Legendre: exact for the quadratic a ramp times a warm-up makes.
            power = sum(self.power_at(a + width * x) for x in _GAUSS) / 2
            self.energy_wh += power * width / 3600
            if power > 0:
                self.burning_s += width
            equilibrium = AMBIENT_C + self.heat_c + HEATING_C * power / max(self.spec.wattage, 1.0)
            decay = math.exp(-width / THERMAL_TAU_S)
            self.temperature_c = equilibrium + (self.temperature_c - equilibrium) * decay
            a = end
            self._relight(end)
            self._thermal()

    def _relight(self, t: float) -> None:
        """Note when the lamp was struck (for its warm-up) or went dark."""
        lit = self.output(t + 1e-6) > 0
        if not lit:
            self._lit_since = None
        elif self._lit_since is None:
            self._lit_since = t

    def _thermal(self) -> None:
        temp = self.temperature_c
        if temp >= SHUTDOWN_AT_C:
            self._raise(FaultKind.THERMAL_SHUTDOWN, True)
        elif temp <= SHUTDOWN_CLEAR_C:
            self._raise(FaultKind.THERMAL_SHUTDOWN, False)
        if temp >= DERATE_AT_C:
            self._raise(FaultKind.THERMAL_DERATING, True)
        elif temp <= DERATE_CLEAR_C:
            self._raise(FaultKind.THERMAL_DERATING, False)

    def _raise(self, kind: FaultKind, active: bool) -> None:
        if active != (kind in self.faults):
            event = self._toggle(kind, active)
            self.events.append(event)

    def _toggle(self, kind: FaultKind, active: bool) -> FaultEvent:
        if active:
            self.faults.add(kind)
            if kind is FaultKind.CYCLING and self._clock is not None:
                self._cycle_from = self._clock
        else:
            self.faults.discard(kind)
        if self._clock is not None:
            self._relight(self._clock)
        return FaultEvent(lamp_id=self.spec.lamp_id, seq=self._next_seq(), kind=kind, active=active)

    def _set_level(self, level: int, now: float, ramp_s: float) -> None:
        self._ramp_from = self._position(now)
        self._ramp_start, self._ramp_end = now, now + ramp_s
        self.level = level
        self._relight(now)

    # -- the protocol ---------------------------------------------------------------------

    def heard(self, now: float) -> None:
        """The controller answered an uplink: it is there (the lamp keeps its own program
        until a command comes)."""
        # Integration is lazy: it has to run now only if the lamp never ran (boot) or if
        # its own program could have taken over before ``now`` (the old silence counts).
        # Otherwise the next report integrates across ``now`` to the same result, and the
        # fleet saves a third of its lamp arithmetic at start-up.
        fallback = self.spec.fallback
        if self._clock is None or (
            fallback is not None
            and not self.autonomous
            and self._silent_since() + fallback.after_s <= now
        ):
            self.advance(now)
        self.last_heard = now

    def apply(self, command: Command, now: float) -> Ack:
        """Apply ``command`` once; the same command id again changes nothing (but a lamp on
        its own program goes back to the controller's level)."""
        self.advance(now)
        self.last_heard = now
        was_autonomous, self.autonomous = self.autonomous, False
        if command.command_id != self.last_command_id:
            self._set_level(command.level, now, float(command.ramp_s))
            self.last_command_id = command.command_id
            self.commands_applied += 1
        elif was_autonomous:
            self._set_level(command.level, now, 0.0)
        return Ack(command_id=command.command_id, level=self.level)

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def registration(self) -> Registration:
        spec = self.spec
        return Registration(
            lamp_id=spec.lamp_id,
            seq=self._next_seq(),
            zone=spec.zone,
            latitude=spec.latitude,
            longitude=spec.longitude,
            wattage=spec.wattage,
            cell=spec.cell,
            firmware=spec.firmware,
            report_period_s=spec.report_period_s,
            queue_mode=spec.sleepy,
        )

    def report(self, now: float, *, numbered: bool = True) -> StateReport:
        """A state report as of ``now``; ``numbered`` takes a sequence number (a read of
        ``/state`` does not)."""
        self.advance(now)
        seq = self._next_seq() if numbered else self.seq
        spec = self.spec
        power = self.power_at(now)
        if spec.power_noise > 0 and power > 0:
            power *= 1 + spec.power_noise * unit_noise(spec.noise_seed, seq)
        voltage = self.voltage_v
        if voltage > 0 and spec.power_noise > 0:
            voltage += VOLTAGE_NOISE_V * unit_noise(spec.noise_seed ^ 0x5EED, seq)
        return StateReport(
            lamp_id=spec.lamp_id,
            seq=seq,
            level=self.level,
            power_w=round(max(power, 0.0), 2),
            energy_wh=round(self.energy_wh, 3),
            burning_s=int(self.burning_s),
            voltage_v=round(voltage, 1),
            last_command_id=self.last_command_id,
            faults=frozenset(self.faults),
        )

    def set_fault(self, kind: FaultKind, active: bool, now: float) -> FaultEvent | None:
        """Raise or clear a fault; the event to send, or None if nothing changed."""
        self.advance(now)
        if active == (kind in self.faults):
            return None
        return self._toggle(kind, active)

    def set_supply(self, shift_v: float, now: float) -> list[FaultEvent]:
        """The supply moves ``shift_v`` from its usual value; the node checks its band."""
        self.advance(now)
        self.voltage_shift_v = shift_v
        low, high = VOLTAGE_BAND
        voltage = self.voltage_v
        before = len(self.events)
        self._raise(FaultKind.VOLTAGE_HIGH, voltage > high)
        self._raise(FaultKind.VOLTAGE_LOW, voltage < low)
        raised, self.events[before:] = self.events[before:], []
        return raised

    def power_off(self, now: float) -> None:
        """The mains supply is gone: dark, and the node is off the air."""
        self.advance(now)
        self.powered = False
        self._relight(now)

    def power_on(self, now: float) -> None:
        """The supply is back: the node boots. Its sequence numbers start again, it has lost
        its level and the controller's command; with a program of its own it lights by it
        until the controller speaks. Energy and burning time are kept (non-volatile)."""
        self.advance(now)
        self.powered = True
        self.seq = 0
        self.last_command_id = None
        self.last_heard = None
        self._boot = now
        self.faults.discard(FaultKind.SUPPLY_LOSS)
        self.events.clear()
        self._set_level(0, now, 0.0)
        self._boot_at(now)

    def take_events(self) -> list[FaultEvent]:
        """The fault events raised by the lamp itself since the last call."""
        events, self.events = self.events, []
        return events
