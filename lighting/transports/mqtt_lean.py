"""The lean MQTT subscriber: MQTT 3.1.1 on one asyncio connection, for the controller's ingest.

Why it exists (docs/performance.md, "MQTT: a lean subscriber for the ingest", has the
measurements): over aiomqtt, paho-mqtt handles each PUBLISH with a message object, a
message-info object holding a ``threading.Condition``, a walk of its callback filters and
a log call, and aiomqtt copies it into a message of its own; that was some 25 of the 55 µs
of CPU a report cost the controller, and held the MQTT ingest under 20,000 reports a
second. This subscriber does only what the ingest needs (OASIS MQTT 3.1.1):

- CONNECT with the client id, the session flag, the keep-alive, a user name and password,
  over TCP or TLS (the context of ``[mqtt]``), and the CONNACK's answer (section 3.2);
- SUBSCRIBE to one filter and the QoS granted (sections 3.8, 3.9);
- PUBLISH at QoS 0 and 1 taken in the order they came (section 3.3); PUBACK sent when the
  caller says (``ack``), the acknowledgements of a turn of the loop in one write;
- PINGREQ when nothing was sent for half the keep-alive (looked at every quarter, so a
  packet goes at least every three quarters), and the connection given up when no PINGRESP
  comes within a keep-alive, unless reading is paused (section 3.1.2.10);
- DISCONNECT on a clean exit.

What the broker sends is read as the event loop reads it (up to 256 KiB at a time) and
split into packets in one pass. A packet is held whole, as paho holds it: limit its size at
the broker (Mosquitto's ``max_packet_size``, as docs/mosquitto/citylight.conf does).
Reading pauses while ``QUEUE_HIGH`` messages wait for the caller (QoS 0 messages have no
in-flight window at the broker). Everything that breaks the
connection, or breaks the protocol, ends the iteration of ``messages`` with a
``BrokerError`` once the messages already queued have been taken, as aiomqtt does.
aiomqtt stays the reference (``[mqtt] ingest_stack = "aiomqtt"``); the ingest's tests run
against a real Mosquitto with both.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
from collections import deque
from types import TracebackType
from typing import Self, cast

from lighting.errors import BrokerError, ProtocolError
from lighting.protocol.mqttwire import (
    CONNACK,
    CONNACK_REASONS,
    DISCONNECT_PACKET,
    MAX_PACKET_ID,
    PINGREQ_PACKET,
    PINGRESP,
    PUBLISH,
    SUBACK,
    Publish,
    connack_code,
    connect_packet,
    decode_publish,
    packet_id,
    puback_packet,
    split,
    suback_codes,
    subscribe_packet,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
"""How long the broker may take to answer CONNECT or SUBSCRIBE."""
QUEUE_HIGH = 4096
"""Messages waiting for the caller at which reading pauses."""
QUEUE_LOW = 1024
"""... and resumes."""


class Subscriber(asyncio.Protocol):
    """One connection to the broker: ``async with`` connects it, ``subscribe`` subscribes,
    ``messages`` iterates over what comes, ``ack`` acknowledges a QoS 1 message."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        clean_session: bool,
        keepalive_s: int,
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.host, self.port = host, port
        self._connect = connect_packet(
            client_id,
            clean_session=clean_session,
            keepalive_s=keepalive_s,
            username=username,
            password=password,
        )
        self._keepalive_s = keepalive_s
        self._tls = tls_context
        self._timeout_s = timeout_s
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        """What was read of the packet not yet whole (a bytearray: a large packet that comes
        in many reads is gathered in linear time)."""
        self._queue: deque[Publish] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._connack: asyncio.Future[int] = self._loop.create_future()
        self._subacks: dict[int, asyncio.Future[list[int]]] = {}
        self._mids = itertools.cycle(range(1, MAX_PACKET_ID + 1))
        self._lost: BrokerError | None = None
        self._out = bytearray()
        self._last_write = 0.0
        self._ping_sent: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._paused = False
        self.received = 0
        """PUBLISH packets read on this connection."""
        self.pongs = 0
        """PINGRESP packets read on this connection: answers to the keep-alive's PINGREQ."""

    @property
    def broker(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def reading(self) -> bool:
        """Whether the broker's bytes are read: not while ``QUEUE_HIGH`` messages wait."""
        return not self._paused

    # -- the caller's side -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Connect and wait for the broker's CONNACK; ``BrokerError`` if it refuses, does not
        answer within the timeout, or cannot be reached."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._loop.create_connection(
                    lambda: self,
                    self.host,
                    self.port,
                    ssl=self._tls,
                    server_hostname=self.host if self._tls is not None else None,
                )
                code = await self._connack
        except TimeoutError as err:  # asyncio's, or the kernel's ETIMEDOUT
            self._abort()
            waited = "no CONNACK" if self._transport is not None else "no connection"
            raise BrokerError(self.broker, f"{waited} within {self._timeout_s:g} s") from err
        except OSError as err:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
            self._abort()
            raise BrokerError(self.broker, f"cannot connect: {err}") from err
        except BaseException:  # cancelled: nobody will exit this context
            self._abort()
            raise
        if code:
            self._abort()
            reason = CONNACK_REASONS.get(code, f"return code {code}")
            raise BrokerError(self.broker, f"refused the connection: {reason}")
        self._schedule_keepalive()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing() and self._lost is None:
            self._flush()
            transport.write(DISCONNECT_PACKET)
            self._fail("closed by the subscriber")
            transport.close()
        self._stop_keepalive()

    async def subscribe(self, topic_filter: str, qos: int) -> list[int]:
        """Subscribe to ``topic_filter``; the QoS the broker granted (``SUBACK_FAILURE`` if
        it refused)."""
        if self._lost is not None:  # gone since the CONNACK: no SUBACK will come
            raise self._lost
        mid = next(self._mids)
        answer: asyncio.Future[list[int]] = self._loop.create_future()
        self._subacks[mid] = answer
        self._write(subscribe_packet(mid, topic_filter, qos))
        try:
            async with asyncio.timeout(self._timeout_s):
                return await answer
        except TimeoutError as err:
            self._abort()
            raise BrokerError(self.broker, f"no SUBACK within {self._timeout_s:g} s") from err
        finally:
            self._subacks.pop(mid, None)

    def messages(self) -> Messages:
        return Messages(self)

    def ack(self, mid: int) -> None:
        """Acknowledge the QoS 1 message ``mid``: sent with the others of this turn of the
        loop. Nothing is sent once the connection is gone (the broker sends the message
        again to the next)."""
        if self._lost is not None:
            return
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out += puback_packet(mid)

    # -- asyncio's side ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a stream's, from create_connection
        self._write(self._connect)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"the connection broke: {exc}" if exc else "the broker closed the connection")

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        try:
            packets, used = split(buffer)
            del buffer[:used]
            for kind, flags, body in packets:
                if kind == PUBLISH:
                    self._take(decode_publish(flags, body))
                else:
                    self._control(kind, flags, body)
        except ProtocolError as err:
            self._fail(f"broke MQTT 3.1.1: {err.reason}")
            self._abort()
            return
        if self._paused is False and len(self._queue) >= QUEUE_HIGH:
            self._pause(True)

    def _take(self, message: Publish) -> None:
        if message.qos > 1:
            raise ProtocolError(f"a PUBLISH at QoS {message.qos} on a QoS 1 subscription")
        self.received += 1
        self._queue.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _control(self, kind: int, flags: int, body: bytes) -> None:
        if flags:  # reserved in every packet a broker sends but PUBLISH (section 2.2.2)
            raise ProtocolError(f"reserved flags {flags:#x} set on a packet of type {kind}")
        if kind == PINGRESP:
            self._ping_sent = None
            self.pongs += 1
        elif kind == SUBACK:
            answer = self._subacks.get(packet_id(body))
            if answer is not None and not answer.done():
                answer.set_result(suback_codes(body))
        elif kind == CONNACK and not self._connack.done():
            self._connack.set_result(connack_code(body))
        else:
            raise ProtocolError(f"an unexpected packet of type {kind}")

    def _pause(self, pause: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._paused = pause
        if pause:
            transport.pause_reading()
        else:
            transport.resume_reading()
            if self._ping_sent is not None:  # its PINGRESP could not be read while paused
                self._ping_sent = self._loop.time()

    def _next(self) -> Publish | None:
        queue = self._queue
        if not queue:
            return None
        message = queue.popleft()
        if self._paused and len(queue) <= QUEUE_LOW:
            self._pause(False)
        return message

    def _write(self, packet: bytes) -> None:
        if self._transport is None or self._lost is not None:
            return
        self._transport.write(packet)
        self._last_write = self._loop.time()

    def _flush(self) -> None:
        if self._out:
            out, self._out = bytes(self._out), bytearray()
            self._write(out)

    def _fail(self, reason: str) -> None:
        """The connection is over: wake whoever waits, with why."""
        if self._lost is None:
            self._lost = BrokerError(self.broker, reason)
            log.debug("MQTT subscriber: %s", self._lost)
        error = self._lost
        self._stop_keepalive()
        if not self._connack.done():
            self._connack.set_exception(error)
            self._connack.exception()  # retrieved: after a timeout no one waits for it
        for answer in self._subacks.values():
            if not answer.done():
                answer.set_exception(error)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
        self._stop_keepalive()

    # -- keep-alive ----------------------------------------------------------------------------

    def _schedule_keepalive(self) -> None:
        if self._keepalive_s and self._lost is None:
            self._timer = self._loop.call_later(self._keepalive_s / 4, self._keepalive)

    def _stop_keepalive(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _keepalive(self) -> None:
        now = self._loop.time()
        late = self._ping_sent is not None and now - self._ping_sent >= self._keepalive_s
        if late and not self._paused:
            self._fail(f"no PINGRESP within the keep-alive of {self._keepalive_s} s")
            self._abort()
            return
        # While reading is paused a PINGRESP cannot be read; the broker still needs a
        # packet within the keep-alive, so the pings go on.
        waiting = self._ping_sent is not None and not self._paused
        if not waiting and now - self._last_write >= self._keepalive_s / 2:
            self._write(PINGREQ_PACKET)
            self._ping_sent = now
        self._schedule_keepalive()


class Messages:
    """The messages of a ``Subscriber``, in the order they came; a queued one is returned at
    once. Once the connection is gone and the queue empty, ``BrokerError``."""

    def __init__(self, subscriber: Subscriber) -> None:
        self._subscriber = subscriber

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Publish:
        subscriber = self._subscriber
        while True:
            message = subscriber._next()
            if message is not None:
                return message
            if subscriber._lost is not None:
                raise subscriber._lost
            waiter = subscriber._waiter = subscriber._loop.create_future()
            try:
                await waiter
            finally:
                subscriber._waiter = None
