"""The NB-IoT radio network between the controller and the lamps: latency, loss, silence.

Each cell (base station) has a one-way latency, a loss rate applied to every datagram in
both directions, and a switch that silences it (out of coverage: datagrams vanish, as
radio networks send no ICMP). Datagrams are delayed and dropped at the lamp's side of its
CoAP endpoint, so the controller sees a real lossy, slow network on loopback.

The cell also measures what the pacing of the controller must bound: how many lamps of the
cell hold a command request they have received and not yet answered, and the highest that
count has been.

This wraps the message interface of aiocoap's ``udp6`` transport (``datagram_msg_received``
and ``send``), which is private API of aiocoap 0.4 (pinned below 0.5); it is confined to
this module and goes when lamps get an endpoint of their own (issue 6).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiocoap

_PUT = 0x03
_POST = 0x02


@dataclass(slots=True)
class Cell:
    """One base station's radio conditions and its measured load."""

    cell_id: str
    latency_s: float = 0.0
    loss: float = 0.0
    silent: bool = False
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


def _is_command_request(data: bytes) -> bool:
    """A CoAP request with method PUT or POST (RFC 7252 header: byte 1 is the code)."""
    return len(data) >= 4 and data[1] in (_PUT, _POST) and data[0] >> 6 == 1


def attach(
    context: aiocoap.Context, cell: Cell, lamp_id: str, listening: Callable[[], bool]
) -> None:
    """Put ``cell``'s radio conditions between ``context`` and the rest of the network.

    ``listening`` says whether the lamp's radio is on (a sleepy lamp's is not between its
    wake windows): what reaches a lamp whose radio is off is lost.
    """
    interface: Any = context.request_interfaces[0].token_interface.message_interface
    loop = asyncio.get_running_loop()
    receive = interface.datagram_msg_received
    send = interface.send

    def received(data: bytes, ancdata: Any, flags: int, address: Any) -> None:
        command = _is_command_request(data)
        if command:
            cell.command_requests += 1
        if not listening():
            cell.asleep += 1
            return
        if cell.lost():
            return
        if command:
            cell.command_arrived(lamp_id)
        if cell.latency_s > 0:
            loop.call_later(cell.latency_s, receive, data, ancdata, flags, address)
        else:
            receive(data, ancdata, flags, address)

    def sent(message: aiocoap.Message) -> None:
        if message.code.is_response():
            cell.command_answered(lamp_id)
        if cell.lost():
            return
        if cell.latency_s > 0:
            loop.call_later(cell.latency_s, send, message)
        else:
            send(message)

    interface.datagram_msg_received = received
    interface.send = sent
