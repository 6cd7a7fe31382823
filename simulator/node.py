"""A simulated lamp on the network: a real CoAP endpoint (aiocoap) around a pure ``Lamp``.

Each node binds its own loopback address on the CoAP port, serves ``/cmd``, ``/state`` and
``/.well-known/core`` to any CoAP client, registers with the controller after power-up,
and reports its state every period (with jitter, so a city does not report in lockstep)
and at once when a fault appears. Uplinks are sent from the node's own address, the way a
modem's packets carry its own IP, so the controller learns where the lamp listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Callable

import aiocoap
from aiocoap import resource
from aiocoap.numbers.codes import Code

from lighting.errors import ProtocolError
from lighting.model import FaultEvent, FaultKind
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_FAULT,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    LAMP_COMMAND,
    LAMP_STATE,
    decode_command,
    encode_ack,
    encode_fault,
    encode_registration,
    encode_report,
    uri,
)
from lighting.protocol.topics import UplinkKind
from simulator.errors import BindError
from simulator.lamp import Lamp, LampSpec
from simulator.mqtt import MqttUplink
from simulator.network import Cell, attach

log = logging.getLogger(__name__)

UPLINK_TIMEOUT_S = 10.0
REGISTER_BACKOFF_MAX_S = 30.0


class _BlackHole(asyncio.DatagramProtocol):
    """Swallows every datagram; ``closed`` is done once the socket is really closed."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _probe_bind(address: str, port: int) -> None:
    """Refuse a taken address before aiocoap, which leaks its socket when a bind fails."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, port))
    except OSError as err:
        raise BindError(address, port, err.strerror or str(err)) from err


def _error(code: Code, reason: str) -> aiocoap.Message:
    return aiocoap.Message(code=code, payload=reason.encode())


class _CommandResource(resource.Resource):
    def __init__(self, node: LampNode) -> None:
        super().__init__()
        self._node = node

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        try:
            command = decode_command(request.payload)
        except ProtocolError as err:
            self._node.refused += 1
            return _error(Code.BAD_REQUEST, err.reason)
        ack = self._node.lamp.apply(command, self._node.clock())
        await self._node.notify()
        return aiocoap.Message(
            code=Code.CHANGED, payload=encode_ack(ack), content_format=CONTENT_FORMAT_CBOR
        )

    render_post = render_put


class _StateResource(resource.Resource):
    def __init__(self, node: LampNode) -> None:
        super().__init__()
        self._node = node

    async def render_get(self, request: aiocoap.Message) -> aiocoap.Message:
        # A GET is a read: it does not consume an uplink sequence number.
        lamp = self._node.lamp
        report = lamp.report(self._node.clock())
        lamp.seq -= 1
        return aiocoap.Message(
            code=Code.CONTENT, payload=encode_report(report), content_format=CONTENT_FORMAT_CBOR
        )


class LampNode:
    """One lamp with its CoAP endpoint and its uplink loop."""

    def __init__(
        self,
        spec: LampSpec,
        controller: tuple[str, int],
        *,
        clock: Callable[[], float],
        rng: random.Random,
        cell: Cell | None = None,
        mqtt: MqttUplink | None = None,
    ) -> None:
        self.lamp = Lamp(spec)
        self.mqtt = mqtt
        """When set, reports and fault events go through the fleet's MQTT platform."""
        self.cell = cell if cell is not None else Cell(spec.cell)
        self.awake_until = 0.0
        self.controller = controller
        self.clock = clock
        self._rng = rng
        self._context: aiocoap.Context | None = None
        self._hole: tuple[asyncio.DatagramTransport, _BlackHole] | None = None
        self._wake = asyncio.Event()
        self.registered = asyncio.Event()
        self.reported = asyncio.Event()
        """Set once the controller has stored a report of this lamp (over CoAP)."""
        self._changed = asyncio.Condition()
        self._pending: list[FaultEvent] = []
        self.refused = 0
        self.uplinks_failed = 0

    @property
    def spec(self) -> LampSpec:
        return self.lamp.spec

    @property
    def online(self) -> bool:
        return self._context is not None

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_level(self, level: int) -> None:
        """Wait until a command has put the lamp at ``level``."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.lamp.level == level)

    async def open(self) -> None:
        """Bind the lamp's endpoint (back in coverage); ``BindError`` if the system refuses."""
        await self._fill_hole()
        _probe_bind(self.spec.address, self.spec.port)
        site = resource.Site()
        site.add_resource(
            [".well-known", "core"], resource.WKCResource(site.get_resources_as_linkheader)
        )
        site.add_resource(list(LAMP_COMMAND), _CommandResource(self))
        site.add_resource(list(LAMP_STATE), _StateResource(self))
        try:
            self._context = await aiocoap.Context.create_server_context(
                site,
                bind=(self.spec.address, self.spec.port),
                transports=["udp6"],
                loggername=f"{__name__}.coap",
            )
        except OSError as err:
            raise BindError(self.spec.address, self.spec.port, err.strerror or str(err)) from err
        attach(self._context, self.cell, self.spec.lamp_id, self._listening)
        self._wake.set()

    def _listening(self) -> bool:
        """A sleepy lamp's radio listens only for a window after each of its uplinks."""
        return not self.spec.sleepy or self.clock() <= self.awake_until

    async def close(self) -> None:
        """Power off: close the endpoint and stop reporting."""
        context, self._context = self._context, None
        self.registered.clear()
        if context is not None:
            await context.shutdown()
        await self._fill_hole()

    async def _fill_hole(self) -> None:
        hole, self._hole = self._hole, None
        if hole is not None:
            transport, protocol = hole
            transport.close()
            await protocol.closed

    async def go_silent(self) -> None:
        """Drop out of coverage: stop answering and reporting, as NB-IoT does.

        Datagrams to the lamp vanish. A plain socket keeps the address and swallows them,
        because a closed port would answer with ICMP port-unreachable, which no radio
        network sends and which makes the sender's next datagram fail on loopback.
        """
        await self.close()
        loop = asyncio.get_running_loop()
        try:
            self._hole = await loop.create_datagram_endpoint(
                _BlackHole, local_addr=(self.spec.address, self.spec.port)
            )
        except OSError as err:
            raise BindError(self.spec.address, self.spec.port, err.strerror or str(err)) from err

    async def _uplink(self, path: tuple[str, ...], payload: bytes) -> aiocoap.Message | None:
        context = self._context
        if context is None:
            return None
        host, port = self.controller
        message = aiocoap.Message(
            code=Code.POST,
            uri=uri(host, port, path),
            payload=payload,
            content_format=CONTENT_FORMAT_CBOR,
        )
        self.awake_until = self.clock() + self.spec.wake_window_s
        try:
            async with asyncio.timeout(UPLINK_TIMEOUT_S):
                return await context.request(message).response
        except (TimeoutError, aiocoap.error.Error, OSError) as err:
            self.uplinks_failed += 1
            log.debug("%s: uplink to %s failed: %s", self.spec.lamp_id, path, err)
            return None

    async def register(self) -> bool:
        response = await self._uplink(
            CONTROLLER_REGISTER, encode_registration(self.lamp.registration())
        )
        if response is not None and response.code.is_successful():
            self.registered.set()
            return True
        if response is not None:
            log.warning(
                "%s: registration refused: %s %s",
                self.spec.lamp_id,
                response.code,
                response.payload.decode(errors="replace"),
            )
        return False

    def _publish(self, kind: UplinkKind, payload: bytes) -> None:
        """Hand an uplink to the NB-IoT platform, which publishes it over MQTT."""
        if self._context is None or self.mqtt is None or self.cell.lost():
            return  # out of coverage, or lost on the radio link
        self.awake_until = self.clock() + self.spec.wake_window_s
        self.mqtt.send(self.spec.zone, self.spec.lamp_id, kind, payload)

    async def send_report(self) -> None:
        payload = encode_report(self.lamp.report(self.clock()))
        if self.mqtt is not None:
            self._publish(UplinkKind.REPORT, payload)
            return
        response = await self._uplink(CONTROLLER_REPORT, payload)
        if response is not None and response.code.is_successful():
            self.reported.set()
        if response is not None and response.code == Code.NOT_FOUND:
            # The controller does not know us (it lost its inventory): register again.
            self.registered.clear()
            self._wake.set()

    def inject(self, kind: FaultKind, active: bool = True) -> None:
        """Raise or clear a fault; the lamp tells the controller at once."""
        event = self.lamp.set_fault(kind, active, self.clock())
        if event is not None:
            self._pending.append(event)
            self._wake.set()

    async def run(self) -> None:
        """Register, then report every period (jittered) and at once on a fault; forever."""
        backoff = 1.0
        while True:
            if self._context is None:
                await self._wake.wait()
                self._wake.clear()
                continue
            if not self.registered.is_set():
                if await self.register():
                    backoff = 1.0
                    await self.send_report()
                    if not self._pending:
                        # That report said it all: the wake-up of start-up is spent, and the
                        # next report is due a period from now, not at once.
                        self._wake.clear()
                else:
                    await self._sleep(backoff * self._rng.uniform(0.5, 1.0))
                    backoff = min(backoff * 2, REGISTER_BACKOFF_MAX_S)
                    continue
            period = self.spec.report_period_s
            await self._sleep(period * self._rng.uniform(0.9, 1.1))
            events, self._pending = self._pending, []
            for event in events:
                if self.mqtt is not None:
                    self._publish(UplinkKind.FAULT, encode_fault(event))
                else:
                    await self._uplink(CONTROLLER_FAULT, encode_fault(event))
            if self.registered.is_set():
                await self.send_report()

    async def _sleep(self, seconds: float) -> None:
        """Sleep until the period is over or something wakes the node (a fault, a restart)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()
