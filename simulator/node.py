"""A simulated lamp on the network: a real CoAP endpoint around a pure ``Lamp``.

Each node is reached at its own loopback address on the fleet's port, serves ``/cmd``,
``/state`` and ``/.well-known/core`` to any CoAP client (RFC 7252: confirmable requests
answered with piggybacked responses, non-confirmable ones with non-confirmable responses,
duplicates answered from a cache, unknown critical options refused with 4.02), and sends
its uplinks (registration, reports, fault events) as confirmable POSTs from its own
address, retransmitted with exponential backoff until answered, the answer piggybacked or
separate. Its cell's latency and loss apply to every datagram both ways, and a sleepy
(queue-mode) lamp hears nothing outside its wake window.

The node has no task of its own: the fleet (``simulator.runner``) schedules its uplinks.
Standing alone (``LampNode(...).open()``) it binds a socket of its own, which is how the
tests talk to a single lamp.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lighting.errors import ProtocolError
from lighting.model import Command, FaultEvent, FaultKind
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_FAULT,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    LAMP_COMMAND,
    LAMP_STATE,
    MAX_PAYLOAD,
    decode_command,
    encode_ack,
    encode_fault,
    encode_registration,
    encode_report,
)
from lighting.protocol import coapwire as coap
from lighting.protocol.coapwire import Message, Option, Type
from lighting.protocol.oscore import (
    EchoRequiredError,
    OscoreError,
    Sealed,
    SecurityContext,
    echo_challenge,
    oscore_option,
)
from lighting.protocol.topics import UplinkKind
from simulator.endpoint import Endpoint
from simulator.faults import Effect, Power, SimFault, apply_fault
from simulator.lamp import Lamp, LampSpec
from simulator.mqtt import MqttUplink
from simulator.network import Cell

log = logging.getLogger(__name__)

UPLINK_TIMEOUT_S = 10.0
"""An uplink not answered within this is given up (the next report says it again)."""
ACK_TIMEOUT_S = 2.0
ACK_RANDOM_FACTOR = 1.5
EXCHANGE_LIFETIME_S = 247.0
"""How long an answered request is remembered to answer its duplicates (RFC 7252)."""
_REMEMBERED = 8
_WELL_KNOWN = (".well-known", "core")
_LINKS = b'</cmd>;ct=60;rt="citylight.cmd",</state>;ct=60;rt="citylight.state"'
_UNDERSTOOD = frozenset(
    {Option.URI_HOST, Option.URI_PORT, Option.URI_PATH, Option.URI_QUERY, Option.ACCEPT}
    | {Option.BLOCK2, Option.CONTENT_FORMAT, Option.OBSERVE}
)
_LINK_FORMAT = 40
_OSCORE_REFUSALS = frozenset({coap.BAD_REQUEST, coap.UNAUTHORIZED, coap.BAD_OPTION})
"""What a controller answers, unprotected, to a request it cannot open (RFC 8613 8.2)."""
_NOT_ACCEPTABLE = coap.code(4, 6)


def _first(message: Message, number: int) -> int | None:
    """The first value of an integer option, or None."""
    values = message.option_values(number)
    return coap.decode_uint(values[0]) if values else None


def _successful(code: int) -> bool:
    return 0x40 <= code < 0x60


@functools.cache
def _uplink_options(path: tuple[str, ...]) -> tuple[tuple[int, bytes], ...]:
    """Uri-Path and Content-Format of an uplink to ``path`` (a handful of paths: cached)."""
    content = (int(Option.CONTENT_FORMAT), coap.encode_uint(CONTENT_FORMAT_CBOR))
    return (*coap.path_options(path), content)


@dataclass(slots=True)
class _Exchange:
    """One confirmable uplink waiting for its answer."""

    data: bytes
    mid: int
    token: bytes
    future: asyncio.Future[Message | None]
    timeout_s: float
    deadline: float
    acknowledged: bool = False
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Answered:
    until: float
    data: bytes


@dataclass(slots=True)
class _Waiters:
    """Lazily made state of a node that only some nodes need."""

    levels: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)
    answered: dict[tuple[tuple[str, int], int], _Answered] = field(default_factory=dict)
    exchanges: dict[bytes, _Exchange] = field(default_factory=dict)


class FleetHooks:
    """What a node asks of its fleet: to be scheduled for an uplink, to count."""

    def wake(self, node: LampNode) -> None:  # pragma: no cover - overridden by the fleet
        """The node has something to send."""

    def registration(self, node: LampNode, registered: bool) -> None:  # pragma: no cover
        """The node has registered (or lost its registration)."""


_ALONE = FleetHooks()


class LampNode:
    """One lamp with its CoAP endpoint."""

    __slots__ = (
        "_events_registered",
        "_events_reported",
        "_extra",
        "_mid",
        "_own",
        "_pending",
        "_rng",
        "awake_until",
        "backoff",
        "cell",
        "clock",
        "controller",
        "endpoint",
        "fleet",
        "is_registered",
        "lamp",
        "mqtt",
        "online",
        "queued",
        "refused",
        "report_due",
        "security",
        "timer",
        "uplink_timeout_s",
        "uplinks_failed",
    )

    def __init__(
        self,
        spec: LampSpec,
        controller: tuple[str, int],
        *,
        clock: Callable[[], float],
        rng: random.Random,
        cell: Cell | None = None,
        mqtt: MqttUplink | None = None,
        endpoint: Endpoint | None = None,
        fleet: FleetHooks | None = None,
    ) -> None:
        self.lamp = Lamp(spec, epoch=time.time() - clock())
        self.mqtt = mqtt
        """When set, reports and fault events go through the fleet's MQTT platform."""
        self.cell = cell if cell is not None else Cell(spec.cell)
        self.controller = controller
        self.clock = clock
        self.endpoint = endpoint
        """The socket the node is reached through (None: it opens one of its own)."""
        self.fleet = fleet if fleet is not None else _ALONE
        self._own = endpoint is None
        self._rng = rng
        self._mid = rng.getrandbits(16)
        self._pending: list[FaultEvent] | None = None
        self._extra: _Waiters | None = None
        self._events_registered: asyncio.Event | None = None
        self._events_reported: asyncio.Event | None = None
        self.awake_until = 0.0
        self.online = False
        self.is_registered = False
        self.queued = False
        self.report_due = False
        self.timer: asyncio.TimerHandle | None = None
        self.backoff = 1.0
        self.uplink_timeout_s = UPLINK_TIMEOUT_S
        self.refused = 0
        self.uplinks_failed = 0
        self.security: SecurityContext | None = None
        """The lamp's OSCORE context: set, every request and uplink is protected."""

    # -- identity and waiting ----------------------------------------------------------------

    @property
    def spec(self) -> LampSpec:
        return self.lamp.spec

    @property
    def registered(self) -> asyncio.Event:
        """Set while the controller has taken the lamp's registration."""
        if self._events_registered is None:
            self._events_registered = asyncio.Event()
            if self.is_registered:
                self._events_registered.set()
        return self._events_registered

    @property
    def reported(self) -> asyncio.Event:
        """Set once the controller has stored a report of this lamp (over CoAP)."""
        if self._events_reported is None:
            self._events_reported = asyncio.Event()
        return self._events_reported

    def _set_registered(self, value: bool) -> None:
        if value != self.is_registered:
            self.is_registered = value
            self.fleet.registration(self, value)
        if self._events_registered is not None:
            if value:
                self._events_registered.set()
            else:
                self._events_registered.clear()

    def _state(self) -> _Waiters:
        if self._extra is None:
            self._extra = _Waiters()
        return self._extra

    async def wait_level(self, level: int) -> None:
        """Wait until a command has put the lamp at ``level``."""
        if self.lamp.level == level:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._state().levels.append((level, future))
        try:
            await future
        finally:
            extra = self._state()
            extra.levels = [(lv, f) for lv, f in extra.levels if f is not future]

    def _notify(self) -> None:
        extra = self._extra
        if extra is None or not extra.levels:
            return
        for level, future in extra.levels:
            if level == self.lamp.level and not future.done():
                future.set_result(None)

    # -- life -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Power on (or come back into coverage): the node listens and will register;
        ``BindError`` if the system refuses its address."""
        if self.endpoint is None or (self._own and not self.endpoint.is_open):
            endpoint = Endpoint(self.spec.address, self.spec.port)
            endpoint.open()
            self.endpoint = endpoint
            endpoint.attach(self.spec.address, self)
        elif self.spec.address not in self.endpoint.receivers:
            self.endpoint.attach(self.spec.address, self)
        self.online = True
        self._set_registered(False)
        self.fleet.wake(self)

    async def close(self) -> None:
        """Power off for good: stop answering and release the node's own socket."""
        self.go_offline()
        endpoint = self.endpoint
        if endpoint is None:
            return
        endpoint.detach(self.spec.address)
        if self._own:
            endpoint.close()

    def go_offline(self) -> None:
        """Off the air: datagrams to the lamp vanish and it sends nothing."""
        self.online = False
        self._set_registered(False)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        extra = self._extra
        if extra is not None:
            for exchange in list(extra.exchanges.values()):
                self._finish(exchange, None)

    async def go_silent(self) -> None:
        """Drop out of coverage: stop answering and reporting, as NB-IoT does.

        The address stays held (by the node's own socket, or the fleet's): a closed port
        would answer with ICMP port-unreachable, which no radio network sends.
        """
        self.go_offline()

    def _listening(self) -> bool:
        """A sleepy lamp's radio listens only for a window after each of its uplinks."""
        return not self.spec.sleepy or self.clock() <= self.awake_until

    # -- the radio --------------------------------------------------------------------------

    def datagram(self, data: bytes, remote: tuple[str, int]) -> None:
        """A datagram for this lamp, before the radio link (loss, latency, sleep)."""
        if not self.online:
            return
        cell = self.cell
        command = len(data) >= 4 and data[1] in (coap.PUT, coap.POST) and data[0] >> 6 == 1
        if command:
            cell.command_requests += 1
        if not self._listening():
            cell.asleep += 1
            return
        if cell.lost():
            return
        if command:
            cell.command_arrived(self.spec.lamp_id)
        if cell.latency_s > 0:
            asyncio.get_running_loop().call_later(cell.latency_s, self._received, data, remote)
        else:
            self._received(data, remote)

    def _send(self, data: bytes, remote: tuple[str, int], *, response: bool = False) -> None:
        cell = self.cell
        if response:
            cell.command_answered(self.spec.lamp_id)
        if cell.lost() or self.endpoint is None:
            return
        if cell.latency_s > 0:
            asyncio.get_running_loop().call_later(cell.latency_s, self._transmit, data, remote)
        else:
            self._transmit(data, remote)

    def _transmit(self, data: bytes, remote: tuple[str, int]) -> None:
        # Sent even if the node went dark meanwhile: the datagram had left the antenna.
        if self.endpoint is not None:
            self.endpoint.send(self.spec.address, data, remote)

    def _received(self, data: bytes, remote: tuple[str, int]) -> None:
        if not self.online:
            return
        try:
            message = coap.decode(data)
        except ProtocolError:
            self.refused += 1  # not CoAP: dropped (RFC 7252 4.2)
            return
        if message.mtype in (Type.ACK, Type.RST):
            self._answer_to_uplink(message)
        elif message.is_request:
            self._serve(message, remote)
        elif message.is_response:
            self._separate_response(message, remote)
        elif message.mtype == Type.CON:  # a CoAP ping
            self._send(coap.encode(Message(Type.RST, coap.EMPTY, message.mid)), remote)

    def _next_mid(self) -> int:
        self._mid = (self._mid + 1) & 0xFFFF
        return self._mid

    # -- serving ----------------------------------------------------------------------------

    def _serve(self, request: Message, remote: tuple[str, int]) -> None:
        key = (remote, request.mid)
        now = self.clock()
        extra = self._extra
        if request.mtype == Type.CON and extra is not None:
            seen = extra.answered.get(key)
            if seen is not None and seen.until >= now:
                self._send(seen.data, remote, response=True)  # a duplicate: same answer
                return
        try:
            if self.security is None:
                code, payload, options = self._render(request)
            else:
                code, payload, options = self._render_protected(self.security, request)
        except ProtocolError as err:  # a Uri-Path that is not UTF-8, an oversized integer
            self.refused += 1
            code, payload, options = coap.BAD_REQUEST, err.reason.encode(), []
        if request.mtype == Type.CON:
            reply = Message(Type.ACK, code, request.mid, request.token, tuple(options), payload)
        else:
            mid = self._next_mid()
            reply = Message(Type.NON, code, mid, request.token, tuple(options), payload)
        data = coap.encode(reply)
        if request.mtype == Type.CON:
            answered = self._state().answered
            answered[key] = _Answered(now + EXCHANGE_LIFETIME_S, data)
            if len(answered) > _REMEMBERED:
                for old in sorted(answered, key=lambda k: answered[k].until)[:-_REMEMBERED]:
                    del answered[old]
        self._send(data, remote, response=True)

    def _render(  # noqa: PLR0911 - one answer per resource and refusal
        self, request: Message
    ) -> tuple[int, bytes, list[tuple[int, bytes]]]:
        unknown = coap.unknown_critical(request, _UNDERSTOOD)
        if unknown is not None:
            return coap.BAD_OPTION, f"option {unknown} not understood".encode(), []
        path, code = request.uri_path, request.code
        if path == LAMP_COMMAND:
            if code not in (coap.PUT, coap.POST):
                return coap.METHOD_NOT_ALLOWED, b"PUT or POST a command", []
            return self._command(request)
        if path == LAMP_STATE:
            if code != coap.GET:
                return coap.METHOD_NOT_ALLOWED, b"GET the state", []
            return self._content(request, CONTENT_FORMAT_CBOR, self._state_payload())
        if path == _WELL_KNOWN:
            if code != coap.GET:
                return coap.METHOD_NOT_ALLOWED, b"GET the links", []
            return self._content(request, _LINK_FORMAT, _LINKS)
        return coap.NOT_FOUND, b"", []

    def _render_protected(
        self, context: SecurityContext, request: Message
    ) -> tuple[int, bytes, list[tuple[int, bytes]]]:
        """Serve an OSCORE request: opened, rendered, the answer protected. A request that
        is not protected gets 4.01 (but for discovery), as does one that does not open."""
        if oscore_option(request.options) is None:
            if request.code == coap.GET and request.uri_path == _WELL_KNOWN:
                return self._render(request)
            self.refused += 1
            return coap.UNAUTHORIZED, b"OSCORE is required", []
        try:
            inner = context.unprotect_request(request.options, request.payload)
        except EchoRequiredError as err:
            sealed = context.protect_response(
                err.request_id, coap.UNAUTHORIZED, ((Option.ECHO, err.echo),)
            )
            return sealed.code, sealed.payload, list(sealed.options)
        except OscoreError as err:
            self.refused += 1
            return coap.code_of(err.code), err.reason.encode(), []
        code, payload, options = self._render(inner.within(request))
        sealed = context.protect_response(inner.request_id, code, options, payload)
        return sealed.code, sealed.payload, list(sealed.options)

    def _state_payload(self) -> bytes:
        # A read does not consume an uplink sequence number.
        return encode_report(self.lamp.report(self.clock(), numbered=False))

    @staticmethod
    def _content(
        request: Message, content_format: int, payload: bytes
    ) -> tuple[int, bytes, list[tuple[int, bytes]]]:
        accept = _first(request, Option.ACCEPT)
        if accept is not None and accept != content_format:
            return _NOT_ACCEPTABLE, b"", []
        options: list[tuple[int, bytes]] = [
            (Option.CONTENT_FORMAT, coap.encode_uint(content_format))
        ]
        block = _first(request, Option.BLOCK2)
        if block is not None:
            number, szx = block >> 4, min(block & 0x07, 6)
            size = 16 << szx
            part = payload[number * size : (number + 1) * size]
            more = (number + 1) * size < len(payload)
            options.append((Option.BLOCK2, coap.encode_uint(number << 4 | more << 3 | szx)))
            payload = part
        return coap.CONTENT, payload, options

    def _command(self, request: Message) -> tuple[int, bytes, list[tuple[int, bytes]]]:
        content_format = request.content_format
        if content_format is not None and content_format != CONTENT_FORMAT_CBOR:
            self.refused += 1
            return coap.UNSUPPORTED_CONTENT_FORMAT, b"content format must be 60 (CBOR)", []
        if len(request.payload) > MAX_PAYLOAD:
            self.refused += 1
            return coap.REQUEST_ENTITY_TOO_LARGE, b"payload too large", []
        try:
            command: Command = decode_command(request.payload)
        except ProtocolError as err:
            self.refused += 1
            return coap.BAD_REQUEST, err.reason.encode(), []
        ack = self.lamp.apply(command, self.clock())
        self._notify()
        options = [(int(Option.CONTENT_FORMAT), coap.encode_uint(CONTENT_FORMAT_CBOR))]
        return coap.CHANGED, encode_ack(ack), options

    # -- uplinks ----------------------------------------------------------------------------

    async def _uplink(self, path: tuple[str, ...], payload: bytes) -> Message | None:
        """POST ``payload`` to the controller's ``path``; its answer, or None. Protected
        when the lamp has a security context: the answer is then the controller's inner
        response, after one repetition with Echo if the controller asked for it."""
        context = self.security
        if context is None:
            return await self._exchange(coap.POST, _uplink_options(path), payload)
        options = _uplink_options(path)
        answer: Message | None = None
        for attempt in range(2):
            try:
                sealed = context.protect_request(coap.POST, options, payload)
            except OscoreError:
                log.exception("%s: cannot protect an uplink", self.spec.lamp_id)
                return None
            answer, echo = self._opened(
                context, sealed, await self._exchange(sealed.code, sealed.options, sealed.payload)
            )
            if echo is None or attempt:
                break
            options = (*options, (Option.ECHO, echo))
        return answer

    def _opened(
        self, context: SecurityContext, sealed: Sealed, answer: Message | None
    ) -> tuple[Message | None, bytes | None]:
        """The controller's inner answer to ``sealed`` and the Echo it asks for, if any.
        Unprotected, only a refusal of the protection itself is believed: anyone on the
        path can forge an unprotected answer."""
        if answer is None:
            return None, None
        if oscore_option(answer.options) is None:
            if answer.code in _OSCORE_REFUSALS:
                return answer, None
            self.refused += 1
            log.warning(
                "%s: an unprotected %s to a protected uplink: ignored",
                self.spec.lamp_id,
                coap.code_text(answer.code),
            )
            return None, None
        try:
            inner = context.unprotect_response(sealed.request_id, answer.options, answer.payload)
        except OscoreError as err:
            self.refused += 1
            log.warning("%s: a response that %s", self.spec.lamp_id, err.reason)
            return None, None
        return inner.within(answer), echo_challenge(inner)

    async def _exchange(
        self, method: int, options: tuple[tuple[int, bytes], ...], payload: bytes
    ) -> Message | None:
        """One confirmable request to the controller, retransmitted until answered."""
        if not self.online:
            return None
        loop = asyncio.get_running_loop()
        mid = self._next_mid()
        token = mid.to_bytes(2, "big") + self._rng.getrandbits(16).to_bytes(2, "big")
        data = coap.encode(Message(Type.CON, method, mid, token, options, payload))
        now = self.clock()
        timeout = ACK_TIMEOUT_S * self._rng.uniform(1.0, ACK_RANDOM_FACTOR)
        exchange = _Exchange(
            data, mid, token, loop.create_future(), timeout, now + self.uplink_timeout_s
        )
        self._state().exchanges[token] = exchange
        self.awake_until = now + self.spec.wake_window_s
        self._send(data, self.controller)
        # One timer per exchange, for the next retransmission or the deadline.
        first = min(timeout, self.uplink_timeout_s)
        exchange.timer = loop.call_at(loop.time() + first, self._retransmit, exchange)
        answer = await exchange.future
        if answer is None:
            self.uplinks_failed += 1
            log.debug("%s: uplink unanswered", self.spec.lamp_id)
            return None
        self.lamp.heard(self.clock())
        return answer

    def _retransmit(self, exchange: _Exchange) -> None:
        exchange.timer = None
        if exchange.future.done():
            return
        now = self.clock()
        if not self.online or now >= exchange.deadline - 1e-3:
            self._finish(exchange, None)
            return
        loop = asyncio.get_running_loop()
        if not exchange.acknowledged:
            exchange.timeout_s *= 2
            self.awake_until = now + self.spec.wake_window_s
            self._send(exchange.data, self.controller)
            wait = min(exchange.timeout_s, exchange.deadline - now)
        else:
            wait = exchange.deadline - now  # acknowledged: the answer comes separately
        exchange.timer = loop.call_at(loop.time() + wait, self._retransmit, exchange)

    def _finish(self, exchange: _Exchange, answer: Message | None) -> None:
        if exchange.timer is not None:
            exchange.timer.cancel()
            exchange.timer = None
        extra = self._extra
        if extra is not None:
            extra.exchanges.pop(exchange.token, None)
            if not (extra.exchanges or extra.levels or extra.answered):
                self._extra = None
        if not exchange.future.done():
            exchange.future.set_result(answer)

    def _by_mid(self, mid: int) -> _Exchange | None:
        if self._extra is None:
            return None
        for exchange in self._extra.exchanges.values():
            if exchange.mid == mid:
                return exchange
        return None

    def _answer_to_uplink(self, message: Message) -> None:
        exchange = self._by_mid(message.mid)
        if exchange is None:
            return
        if message.mtype == Type.RST:
            self._finish(exchange, None)
        elif message.code == coap.EMPTY:
            exchange.acknowledged = True  # the answer comes separately, before the deadline
            self.awake_until = exchange.deadline
        elif message.token == exchange.token:
            self._finish(exchange, message)

    def _separate_response(self, message: Message, remote: tuple[str, int]) -> None:
        if message.mtype == Type.CON:
            # Acknowledged even when it matches nothing: it may be a duplicate of an
            # answer already taken, whose acknowledgement was lost.
            self._send(coap.encode(Message(Type.ACK, coap.EMPTY, message.mid)), remote)
        exchange = self._extra.exchanges.get(message.token) if self._extra else None
        if exchange is not None:
            self._finish(exchange, message)

    def _fire(self, path: tuple[str, ...], payload: bytes) -> None:
        """Send one confirmable POST and forget it (a last gasp: the node is going dark)."""
        mid = self._next_mid()
        method, options = coap.POST, _uplink_options(path)
        if self.security is not None:
            try:
                sealed = self.security.protect_request(method, options, payload)
            except OscoreError:
                return
            method, options, payload = sealed.code, sealed.options, sealed.payload
        message = Message(Type.CON, method, mid, mid.to_bytes(2, "big"), options, payload)
        self._send(coap.encode(message), self.controller)

    async def register(self) -> bool:
        response = await self._uplink(
            CONTROLLER_REGISTER, encode_registration(self.lamp.registration())
        )
        if response is not None and _successful(response.code):
            self._set_registered(True)
            self.backoff = 1.0
            return True
        if response is not None:
            log.warning(
                "%s: registration refused: %s %s",
                self.spec.lamp_id,
                coap.code_text(response.code),
                response.payload.decode(errors="replace"),
            )
        return False

    def _publish(self, kind: UplinkKind, payload: bytes) -> None:
        """Hand an uplink to the NB-IoT platform, which publishes it over MQTT."""
        if not self.online or self.mqtt is None or self.cell.lost():
            return  # out of coverage, or lost on the radio link
        self.awake_until = self.clock() + self.spec.wake_window_s
        self.mqtt.send(self.spec.zone, self.spec.lamp_id, kind, payload)

    async def send_report(self) -> None:
        payload = encode_report(self.lamp.report(self.clock()))
        self._collect()
        if self.mqtt is not None:
            self._publish(UplinkKind.REPORT, payload)
            return
        response = await self._uplink(CONTROLLER_REPORT, payload)
        if response is not None and _successful(response.code):
            self.reported.set()
        if response is not None and response.code == coap.NOT_FOUND:
            # The controller does not know us (it lost its inventory): register again.
            self._set_registered(False)
            self.fleet.wake(self)

    def _collect(self) -> None:
        """Take the fault events the lamp raised by itself (thermal, supply)."""
        events = self.lamp.take_events()
        if events:
            if self._pending is None:
                self._pending = []
            self._pending += events
            self.fleet.wake(self)

    @property
    def has_events(self) -> bool:
        return bool(self._pending)

    async def send_events(self) -> bool:
        """Send the fault events waiting; True if there were any."""
        self._collect()
        events, self._pending = self._pending, None
        if not events:
            return False
        for event in events:
            if self.mqtt is not None:
                self._publish(UplinkKind.FAULT, encode_fault(event))
            else:
                await self._uplink(CONTROLLER_FAULT, encode_fault(event))
        return True

    # -- faults -----------------------------------------------------------------------------

    def inject(self, kind: FaultKind, active: bool = True) -> None:
        """Raise or clear a fault the lamp reports; it tells the controller at once."""
        event = self.lamp.set_fault(kind, active, self.clock())
        if event is not None:
            self._queue_events((event,))

    def _queue_events(self, events: tuple[FaultEvent, ...] | list[FaultEvent]) -> None:
        if not events:
            return
        if self._pending is None:
            self._pending = []
        self._pending += events
        self.fleet.wake(self)

    def fault(self, kind: SimFault, active: bool = True) -> Effect:
        """Raise or clear a simulated fault (``SimFault``) and act on what it does."""
        effect = apply_fault(self.lamp, kind, active, self.clock())
        self._notify()
        if effect.power is Power.OFF:
            if self.online:
                for event in effect.events:  # the last gasp, before the supply goes
                    if self.mqtt is not None:
                        self._publish(UplinkKind.FAULT, encode_fault(event))
                    else:
                        self._fire(CONTROLLER_FAULT, encode_fault(event))
            self.go_offline()
        elif effect.power is Power.ON:
            self.online = self.endpoint is not None
            self._pending = None
            self._set_registered(False)
            self.fleet.wake(self)
        else:
            self._queue_events(effect.events)
        return effect
