"""The ports between the controller and the network.

``CommandTransport`` carries commands down to lamps; ``UplinkHandler`` is what a transport
calls when a lamp sends something up. The controller depends on these protocols only, so a
transport (aiocoap today, MQTT or a lean CoAP path later) is one module behind them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lighting.model import Ack, Command, FaultEvent, Registration, StateReport


@dataclass(frozen=True, slots=True)
class Target:
    """Where a lamp listens, as learned from its registration."""

    lamp_id: str
    address: str
    port: int


class CommandTransport(Protocol):
    async def send(self, target: Target, command: Command) -> Ack:
        """Deliver ``command``; the lamp's acknowledgement, or ``DeliveryError``."""
        ...

    async def aclose(self) -> None: ...


class UplinkHandler(Protocol):
    async def on_registration(self, registration: Registration, address: str, port: int) -> bool:
        """Take a registration from ``address:port``; True if the lamp is new."""
        ...

    async def on_report(self, report: StateReport) -> None:
        """Take a state report; returns once it is stored. ``UnknownLampError`` if unknown."""
        ...

    async def on_fault(self, event: FaultEvent) -> None:
        """Take a fault event; returns once it is stored. ``UnknownLampError`` if unknown."""
        ...
