"""A simulated lamp node as a pure state machine: no clock, no sockets.

Time comes in as ``now``, seconds on any monotonic scale. The lamp applies absolute,
idempotent commands, draws power according to its level and its faults, integrates its
energy and burning time, and numbers every uplink with one sequence counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lighting.model import Ack, Command, FaultEvent, FaultKind, Registration, StateReport


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


@dataclass(slots=True)
class Lamp:
    """The changing state of one lamp."""

    spec: LampSpec
    level: int = 0
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
    _clock: float | None = None

    @property
    def power_w(self) -> float:
        """Power drawn now: proportional to the level, none when the lamp has failed."""
        if FaultKind.LAMP_FAILURE in self.faults or self.relay_stuck is False:
            return 0.0
        level = 100 if self.relay_stuck else self.level
        return self.spec.wattage * level / 100 * self.power_scale

    def advance(self, now: float) -> None:
        """Integrate energy and burning time up to ``now``."""
        if self._clock is not None and now > self._clock:
            elapsed = now - self._clock
            power = self.power_w
            self.energy_wh += power * elapsed / 3600
            if power > 0:
                self.burning_s += elapsed
        if self._clock is None or now > self._clock:
            self._clock = now

    def apply(self, command: Command, now: float) -> Ack:
        """Apply ``command`` once; the same command id again changes nothing."""
        self.advance(now)
        if command.command_id != self.last_command_id:
            self.level = command.level
            self.last_command_id = command.command_id
            self.commands_applied += 1
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

    def report(self, now: float) -> StateReport:
        """A state report as of ``now`` (it takes a sequence number)."""
        self.advance(now)
        return StateReport(
            lamp_id=self.spec.lamp_id,
            seq=self._next_seq(),
            level=self.level,
            power_w=round(self.power_w, 2),
            energy_wh=round(self.energy_wh, 3),
            burning_s=int(self.burning_s),
            voltage_v=230.0,
            last_command_id=self.last_command_id,
            faults=frozenset(self.faults),
        )

    def set_fault(self, kind: FaultKind, active: bool, now: float) -> FaultEvent | None:
        """Raise or clear a fault; the event to send, or None if nothing changed."""
        self.advance(now)
        if active == (kind in self.faults):
            return None
        if active:
            self.faults.add(kind)
        else:
            self.faults.discard(kind)
        return FaultEvent(lamp_id=self.spec.lamp_id, seq=self._next_seq(), kind=kind, active=active)
