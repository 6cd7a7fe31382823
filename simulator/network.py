"""The NB-IoT radio network between the controller and the lamps: latency, loss, silence.

Each cell (base station) has a coverage class, a one-way latency, a loss rate applied to
every datagram in both directions, and a switch that silences it (out of coverage:
datagrams vanish, as radio networks send no ICMP). The lamp's endpoint applies them on its
side (``simulator.node``), so the controller sees a real lossy, slow network on loopback.

The cell also measures what the pacing of the controller must bound: how many lamps of the
cell hold a command request they have received and not yet answered, and the highest that
count has been.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Cell:
    """One base station's radio conditions and its measured load."""

    cell_id: str
    latency_s: float = 0.0
    loss: float = 0.0
    silent: bool = False
    coverage: str = "normal"
    """The cell's NB-IoT coverage class (normal, extended, extreme), for the record."""
    rng: random.Random = field(default_factory=random.Random)
    in_flight: set[str] = field(default_factory=set)
    max_in_flight: int = 0
    dropped: int = 0
    delivered: int = 0
    asleep: int = 0
    command_requests: int = 0
    """Command requests that reached the base station (before loss or silence)."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a command request reaches a lamp of the cell (for tests to wait on)."""

    def lost(self) -> bool:
        """Whether the next datagram through this cell is lost."""
        if self.silent or (self.loss > 0 and self.rng.random() < self.loss):
            self.dropped += 1
            return True
        self.delivered += 1
        return False

    def command_arrived(self, lamp_id: str) -> None:
        self.arrived.set()
        self.in_flight.add(lamp_id)
        self.max_in_flight = max(self.max_in_flight, len(self.in_flight))

    def command_answered(self, lamp_id: str) -> None:
        self.in_flight.discard(lamp_id)
