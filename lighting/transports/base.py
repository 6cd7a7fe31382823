"""The ports between the controller and the network.

``CommandTransport`` carries commands down to lamps; ``UplinkHandler`` is what a transport
calls when a lamp sends something up. The controller depends on these protocols only, so a
transport (aiocoap today, MQTT or a lean CoAP path later) is one module behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lighting.errors import DeliveryError, LightingError, ProtocolError
from lighting.model import Ack, Command, FaultEvent, Registration, StateReport
from lighting.protocol import decode_ack


@dataclass(frozen=True, slots=True)
class Target:
    """Where a lamp listens, as learned from its registration."""

    lamp_id: str
    address: str
    port: int


Sent = Callable[[Ack | DeliveryError], None]
"""Told once what became of a command: the lamp's acknowledgement, or why it failed."""


class CommandTransport(Protocol):
    def start(self, target: Target, command: Command, done: Sent) -> None:
        """Start delivering ``command``: ``done`` is told, later and once, the lamp's
        acknowledgement or the ``DeliveryError``. ``DeliveryError`` at once if it cannot
        be sent at all (the transport is closed). A callback rather than a coroutine: a
        city-wide change starts thousands of commands at once, and a task each costs more
        than the command."""
        ...

    async def aclose(self) -> None: ...


class UplinkHandler(Protocol):
    async def on_registration(self, registration: Registration, address: str, port: int) -> bool:
        """Take a registration from ``address:port``; True if the lamp is new."""
        ...

    async def on_registrations(
        self, registrations: list[tuple[Registration, str, int]]
    ) -> list[bool]:
        """Take a burst of registrations (with the address and port of each) in one go;
        per registration, True if the lamp is new. ``StorageError`` if they cannot be stored."""
        ...

    async def on_report(self, report: StateReport) -> None:
        """Take a state report; returns once it is stored. ``UnknownLampError`` if unknown."""
        ...

    async def on_reports(self, reports: list[StateReport]) -> list[LightingError | None]:
        """Take a burst of reports in one go; per report None once stored, or why not
        (``UnknownLampError``, ``StorageError`` for a full buffer). ``StorageError`` if the
        burst cannot be stored at all."""
        ...

    async def on_fault(self, event: FaultEvent) -> None:
        """Take a fault event; returns once it is stored. ``UnknownLampError`` if unknown."""
        ...


def read_ack(target: Target, command: Command, success: bool, code: str, payload: bytes) -> Ack:
    """The lamp's acknowledgement of ``command`` in a response (``DeliveryError`` if the
    response refuses it, is not an acknowledgement, or acknowledges another command)."""
    if not success:
        reason = payload.decode(errors="replace")
        raise DeliveryError(target.lamp_id, f"refused with {code}: {reason}")
    try:
        ack = decode_ack(payload)
    except ProtocolError as err:
        raise DeliveryError(target.lamp_id, f"bad acknowledgement: {err.reason}") from err
    if ack.command_id != command.command_id:
        raise DeliveryError(
            target.lamp_id,
            f"acknowledged command {ack.command_id} instead of {command.command_id}",
        )
    return ack
