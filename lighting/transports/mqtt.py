"""The MQTT adapter of the controller, on aiomqtt: lamp telemetry in, city events out.

Two sides, each with its own connection and its own reconnect loop (aiomqtt does not
reconnect by itself); ``MqttLink`` holds both for the daemon:

- ``MqttIngest`` takes what a city's NB-IoT platform forwards to the broker: it subscribes
  to ``{root}/up/#`` with QoS 1 in a persistent session (a fixed client id, clean session
  off, subscribed again on every connect), so that reports published while the controller
  is away wait at the broker. A message is acknowledged to the broker, in the order they
  came, once it is stored or refused for good: what the controller held when it stopped
  comes again, and a redelivered report is told apart by the storage, which keeps one per
  (lamp, boot, sequence number). Storing returns once the report's batch is committed
  (some 50 ms), so messages are handled a burst at a time, in one submission to the
  controller: those that came while the last burst was stored, a bounded number in all.
- ``MqttPublisher`` listens to the controller's event hub and publishes each notice with
  QoS 1, many at a time: a lamp's status retained (and only when it says something new),
  fault and incident events not. While the broker is away, notices wait in the hub's
  bounded queue (which drops the oldest, counted); those in flight when the connection
  broke are sent again first.

Bad input never stops the ingest: a topic outside the layout, an oversized payload, a
payload that breaks protocol v1, a lamp id that differs from the topic's, and a lamp the
controller does not know are each counted under ``mqtt.refused.<why>`` and logged once.
See ``docs/protocol.md`` (MQTT) for the layout and the payloads. Both sides connect with
``mqtt_client.Client``: aiomqtt, with paho's socket read a buffer at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import ssl
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from lighting.config import MqttConfig
from lighting.errors import (
    BrokerError,
    ConfigError,
    ProtocolError,
    StorageError,
    UnknownLampError,
)
from lighting.metrics import Counters
from lighting.model import FaultEvent, StateReport
from lighting.notices import LampNotice, Notice
from lighting.protocol import (
    MAX_PAYLOAD,
    Outgoing,
    Topics,
    UplinkKind,
    clear_retained,
    decode_fault,
    decode_report,
    outgoing,
)
from lighting.protocol.mqttwire import SUBACK_FAILURE
from lighting.transports.base import UplinkHandler
from lighting.transports.mqtt_client import Client
from lighting.transports.mqtt_lean import Subscriber

log = logging.getLogger(__name__)


def tls_context(config: MqttConfig) -> ssl.SSLContext | None:
    """The TLS context of ``config`` (None without ``tls``): the broker's certificate is
    verified, against ``ca_file`` or the system's CAs, and its name checked; the
    controller shows its own certificate when it has one. A file that cannot be read is a
    ``ConfigError`` naming it."""
    if not config.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=config.ca_file)
        if config.cert_file is not None:
            context.load_cert_chain(config.cert_file, config.key_file)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError(f"[mqtt] TLS files: {err}") from err
    return context


HANDLERS_IN_FLIGHT = 1024
"""Uplinks in hand at once (the next burst and the one being stored): a batch of the report
writer takes some 50 ms. With 256, ``bench.mqtt`` stored 8,366 to 8,399 reports/s; with
1,024, 9,371 to 9,563 (docs/performance.md)."""
PUBLISHES_IN_FLIGHT = 100
"""QoS 1 publishes awaiting the broker's PUBACK at once (measured: ~8.5k msg/s with 100,
~3.8k awaited one by one)."""
PUBLISH_TIMEOUT_S = 10.0
STORAGE_ATTEMPTS = 5
STORAGE_RETRY_S = 0.1
"""A report refused by a full buffer is tried again (0.1, 0.2, 0.4, 0.8 s): the broker was
told it arrived, so nobody else will send it again."""
HUB_NAME = "mqtt"


class NoticeSource(Protocol):
    """One listener's queue of the event hub (``lighting.controller.events.Subscription``)."""

    async def get(self) -> Notice: ...

    def close(self) -> None: ...


class NoticeHub(Protocol):
    """The controller's event hub, as the publisher sees it."""

    def subscribe(self, name: str, maxsize: int) -> NoticeSource: ...


class Backoff:
    """Exponential delays from ``low`` to ``high`` seconds, each times a random [0.5, 1)."""

    def __init__(self, low: float, high: float, rng: random.Random | None = None) -> None:
        self.low, self.high = low, max(low, high)
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        delay = min(self.high, self.low * 2.0**self._attempt)
        self._attempt = min(self._attempt + 1, 32)
        return delay * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._attempt = 0


_Uplink = tuple[str, bytes, "_Ticket"]
"""A message taken from the broker: its topic, its payload and its ticket."""
_ACCEPTED_REPORT = f"mqtt.accepted.{UplinkKind.REPORT}"


class _Refused(Exception):  # noqa: N818 - control flow within this module
    """An uplink that is not taken: ``why`` names the counter, ``reason`` says more."""

    def __init__(self, why: str, reason: str) -> None:
        super().__init__(reason)
        self.why = why
        self.reason = reason


class Refusals:
    """Counts each refusal under ``{prefix}.{why}`` and logs the first of each kind only."""

    def __init__(self, counters: Counters, prefix: str) -> None:
        self._counters = counters
        self._prefix = prefix
        self._logged: set[str] = set()

    def __call__(self, why: str, topic: str, reason: str) -> None:
        name = f"{self._prefix}.{why}"
        self._counters.incr(name)
        if why in self._logged:
            log.debug("%s: %s: %s", name, topic, reason)
            return
        self._logged.add(why)
        log.warning("%s: %s (counted as %s; the next ones are only counted)", topic, reason, name)


class _Side:
    """One side's connection to the broker, kept up by a reconnect loop of its own."""

    side = ""

    def __init__(self, config: MqttConfig, counters: Counters) -> None:
        self.config = config
        self.counters = counters
        self.topics = Topics(config.topic_root)
        self.connected = asyncio.Event()
        """Set while the side is connected (and, for the ingest, subscribed)."""
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self._up: bool | None = None
        self._away_since = 0.0
        self._up_since: float | None = None
        """When the current connection came up; None while there is none."""
        self._loop = asyncio.get_running_loop()
        self._tls = tls_context(config)  # read once: a bad file stops the start, not a retry

    @property
    def broker(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    @property
    def _password(self) -> str | None:
        password = self.config.password
        return password.get_secret_value() if password is not None else None

    def _client(self, identifier: str, *, clean_session: bool) -> Client:
        config = self.config
        return Client(
            config.host,
            config.port,
            identifier=identifier,
            clean_session=clean_session,
            keepalive=config.keepalive_s,
            username=config.username,
            password=self._password,
            tls_context=self._tls,
        )

    async def run(self) -> None:
        """Connect, serve, and on every loss wait (exponential backoff) and connect again.

        The backoff starts again from its shortest delay only after a connection that
        held for ``reconnect_max_s``: a broker that accepts and then breaks every
        connection at once (a packet we refuse, an ACL that drops us) is not hammered every
        ``reconnect_min_s``: the waits keep doubling up to ``reconnect_max_s``, as they do
        while the broker is away."""
        while True:
            try:
                await self._session()
            except (aiomqtt.MqttError, BrokerError) as err:
                self._lost(err)
            up_since, self._up_since = self._up_since, None
            if up_since is not None and self._loop.time() - up_since >= self.config.reconnect_max_s:
                self._backoff.reset()
            await asyncio.sleep(self._backoff.next())

    async def _session(self) -> None:
        """One connection, until it breaks (``MqttError``, ``BrokerError``)."""
        raise NotImplementedError

    def _connected(self) -> None:
        if self._up is False:
            self.counters.incr("mqtt.reconnects")
            log.warning(
                "MQTT %s: broker %s is back after %.1f s",
                self.side,
                self.broker,
                self._loop.time() - self._away_since,
            )
        else:
            log.info("MQTT %s: connected to %s", self.side, self.broker)
        self._up = True
        self._up_since = self._loop.time()
        self.connected.set()

    def _lost(self, err: aiomqtt.MqttError | BrokerError) -> None:
        self.connected.clear()
        if self._up is False:
            log.debug("MQTT %s: broker %s still away: %s", self.side, self.broker, err)
            return
        self._away_since = self._loop.time()
        self.counters.incr("mqtt.disconnects")
        log.warning(
            "MQTT %s: broker %s is %s (%s); trying again every %g to %g s",
            self.side,
            self.broker,
            "away" if self._up else "unreachable",
            err,
            self.config.reconnect_min_s,
            self.config.reconnect_max_s,
        )
        self._up = False


class _Ticket:
    """One received message, waiting to be acknowledged."""

    __slots__ = ("_acks", "finished", "mid")

    def __init__(self, acks: _Acks, mid: int) -> None:
        self._acks, self.mid, self.finished = acks, mid, False

    def done(self) -> None:
        self.finished = True
        self._acks.flush()


class _Acks:
    """Acknowledgements of one connection, sent in the order the messages came (MQTT 3.1.1
    section 4.6) as soon as every earlier one is stored too. A ticket of a connection that is
    gone is never acknowledged: its message ids mean nothing to the next connection, and the
    broker sends the message again."""

    def __init__(self, send: Callable[[int], object]) -> None:
        self._send = send
        """Sends the PUBACK of a QoS 1 message (the only QoS the ingest subscribes with)."""
        self._queue: deque[_Ticket] = deque()
        self.alive = True

    def close(self) -> None:
        """The connection is gone: nothing of it is acknowledged any more."""
        self.alive = False
        self._queue.clear()

    def taken(self, mid: int, qos: int) -> _Ticket:
        ticket = _Ticket(self, mid)
        if qos > 0:
            self._queue.append(ticket)
        return ticket

    def flush(self) -> None:
        queue = self._queue
        while self.alive and queue and queue[0].finished:
            self._send(queue.popleft().mid)


class MqttIngest(_Side):
    """Lamp uplinks from the broker, handed to the controller's ``UplinkHandler``."""

    side = "ingest"

    def __init__(self, config: MqttConfig, handler: UplinkHandler, counters: Counters) -> None:
        super().__init__(config, counters)
        self.handler = handler
        self._refuse = Refusals(counters, "mqtt.refused")
        self._failed = Refusals(counters, "mqtt.failed")
        self._slots = asyncio.Semaphore(HANDLERS_IN_FLIGHT)
        self._inbox: list[_Uplink] = []
        self._bursts: asyncio.Task[None] | None = None
        self._handlers: asyncio.TaskGroup | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._drained = asyncio.Event()
        self.received = 0
        """Uplinks taken from the broker since start-up (each acknowledged once stored or
        refused for good)."""
        self.handled = 0
        """Uplinks handled since start-up: stored, refused or failed."""
        self._progress = asyncio.Event()
        # Over aiomqtt, one client for every connection (it is reusable); the lean
        # subscriber connects anew. What either had queued when a connection broke comes out
        # before the error and is handled, but never acknowledged (its tickets die with their
        # connection, ``_Acks.close``, and neither writes for a connection that is gone); what
        # aiomqtt still holds of a session that ended otherwise (cancelled) is dropped before
        # the next connects, since its packet ids would name other messages there. The
        # broker sends those messages again and the storage counts them as duplicates.
        self._mqtt: Client | None = None
        if config.ingest_stack == "aiomqtt":
            self._mqtt = self._client(config.client_id, clean_session=False)
            # A message is acknowledged to the broker once it is stored, not as it arrives:
            # what the controller held when it stopped or crashed is sent again (aiomqtt 2.5
            # has no API for this yet, aiomqtt issue #345; paho-mqtt's is used, here only).
            self._mqtt._client.manual_ack_set(True)

    async def run(self) -> None:
        self._drained.clear()
        try:
            async with asyncio.TaskGroup() as handlers:
                self._handlers = handlers
                self._receiver = handlers.create_task(super().run(), name="mqtt receive")
        finally:
            self._handlers = self._receiver = None
            self._drained.set()

    async def drain(self) -> None:
        """Stop taking messages and finish storing those in hand. They are not acknowledged
        (the connection is closed first): the broker sends them again to the next session,
        where the storage counts them as duplicates. Nothing taken is lost either way."""
        receiver = self._receiver
        if receiver is None:
            return
        receiver.cancel()
        await self._drained.wait()

    async def _session(self) -> None:
        handlers = self._handlers
        if handlers is None:
            raise RuntimeError("the ingest session runs inside run()")
        if self._mqtt is None:
            await self._receive_lean(handlers)
        else:
            await self._receive_aiomqtt(handlers, self._mqtt)

    async def _receive_lean(self, handlers: asyncio.TaskGroup) -> None:
        config = self.config
        subscriber = Subscriber(
            config.host,
            config.port,
            client_id=config.client_id,
            clean_session=False,
            keepalive_s=config.keepalive_s,
            username=config.username,
            password=self._password,
            tls_context=self._tls,
        )
        async with subscriber:
            acks = _Acks(subscriber.ack)
            try:
                self._subscribed(await subscriber.subscribe(self.topics.uplinks, qos=1))
                async for message in subscriber.messages():
                    ticket = acks.taken(message.mid, message.qos)
                    await self._take(handlers, message.topic, message.payload, ticket)
            finally:
                acks.close()

    async def _receive_aiomqtt(self, handlers: asyncio.TaskGroup, mqtt: Client) -> None:
        acks = _Acks(lambda mid: mqtt._client.ack(mid, 1))
        if stale := mqtt.forget_queued():
            log.debug("MQTT ingest: %d messages of the last connection dropped", stale)
        try:
            async with mqtt as client:
                self._subscribed(await client.subscribe(self.topics.uplinks, qos=1))
                async for message in client.messages:
                    ticket = acks.taken(message.mid, message.qos)
                    payload = message.payload
                    data = payload if isinstance(payload, bytes) else str(payload).encode()
                    await self._take(handlers, message.topic.value, data, ticket)
        finally:
            acks.close()

    def _subscribed(self, granted: Sequence[int | ReasonCode]) -> None:
        if any(not code < SUBACK_FAILURE for code in granted):  # e.g. the broker's ACL says no
            raise BrokerError(self.broker, f"refused to subscribe to {self.topics.uplinks}")
        self._connected()

    async def _take(
        self, handlers: asyncio.TaskGroup, topic: str, payload: bytes, ticket: _Ticket
    ) -> None:
        """Hand one message to the next burst, once fewer than ``HANDLERS_IN_FLIGHT`` are in
        hand."""
        self.received += 1
        await self._slots.acquire()
        self._inbox.append((topic, payload, ticket))
        if self._bursts is None or self._bursts.done():
            self._bursts = handlers.create_task(self._handle_bursts(), name="mqtt bursts")

    async def _handle_bursts(self) -> None:
        """Handle what came in, a burst at a time, until nothing waits: the messages that
        arrive while a burst is stored are the next burst."""
        while self._inbox:
            burst, self._inbox = self._inbox, []
            await self._handle(burst)

    async def _handle(self, burst: list[_Uplink]) -> None:
        """Decode a burst, store its reports in one submission and its fault events one by
        one; acknowledge each message once it is stored or refused for good."""
        final = [False] * len(burst)
        try:
            reports: list[tuple[int, StateReport]] = []
            for index, (topic, payload, _) in enumerate(burst):
                try:
                    value = self._decode(topic, payload)
                except _Refused as refusal:
                    self._refuse(refusal.why, topic, refusal.reason)
                    final[index] = True
                    continue
                if isinstance(value, StateReport):
                    reports.append((index, value))
                else:
                    final[index] = await self._take_fault(topic, value)
            await self._take_reports(burst, reports, final)
        except Exception as err:  # an uplink must never stop the ingest
            self._failed("internal", burst[0][0], f"{type(err).__name__}: {err}")
            log.debug("MQTT burst of %d uplinks failed", len(burst), exc_info=True)
            final = [True] * len(burst)  # it would fail again: do not have it sent for ever
        finally:
            for (_, _, ticket), done in zip(burst, final, strict=True):
                self._slots.release()
                self.handled += 1
                if done:
                    ticket.done()
            self._progress.set()

    async def _take_reports(
        self, burst: list[_Uplink], reports: list[tuple[int, StateReport]], final: list[bool]
    ) -> None:
        """Store the burst's reports; those refused by a full buffer, or all when the
        database fails, are tried again after 0.1, 0.2, 0.4 and 0.8 s. What is not stored
        by then is not acknowledged: the broker sends it again."""
        delay = STORAGE_RETRY_S
        for attempt in range(1, STORAGE_ATTEMPTS + 1):
            again: list[tuple[int, StateReport]] = []
            try:
                answers = await self.handler.on_reports([report for _, report in reports])
            except StorageError as err:
                again, why = reports, err
            else:
                for (index, report), answer in zip(reports, answers, strict=True):
                    topic = burst[index][0]
                    if answer is None:
                        self.counters.incr(_ACCEPTED_REPORT)
                        final[index] = True
                    elif isinstance(answer, StorageError):
                        again.append((index, report))
                        why = answer
                    elif isinstance(answer, UnknownLampError):
                        self._refuse("unknown-lamp", topic, str(answer))
                        final[index] = True
                    else:
                        self._refuse("refused", topic, str(answer))
                        final[index] = True
            if not again:
                return
            reports = again
            if attempt == STORAGE_ATTEMPTS:
                for index, _ in again:
                    self._failed(
                        "storage",
                        burst[index][0],
                        f"not stored after {STORAGE_ATTEMPTS} attempts: {why}",
                    )
                return
            self.counters.incr("mqtt.retried.storage", len(again))
            await asyncio.sleep(delay)
            delay *= 2

    async def wait_handled(self, count: int) -> None:
        """Wait until at least ``count`` uplinks have been handled since start-up."""
        while self.handled < count:
            self._progress.clear()
            await self._progress.wait()

    async def _take_fault(self, topic: str, event: FaultEvent) -> bool:
        """Hand one fault event to the controller; whether it is done with (taken or
        refused for good), not when it could not be stored."""
        try:
            await self._store(event)
        except UnknownLampError as err:
            self._refuse("unknown-lamp", topic, str(err))
            return True
        except StorageError as err:
            self._failed("storage", topic, f"not stored after {STORAGE_ATTEMPTS} attempts: {err}")
            return False
        self.counters.incr(f"mqtt.accepted.{UplinkKind.FAULT}")
        return True

    def _decode(self, topic: str, payload: bytes) -> StateReport | FaultEvent:
        """The uplink on ``topic``; ``_Refused`` with the reason why it is not one."""
        try:
            uplink = self.topics.parse_uplink(topic)
        except ProtocolError as err:
            raise _Refused("bad-topic", err.reason) from err
        if len(payload) > MAX_PAYLOAD:
            raise _Refused("too-large", f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
        value: StateReport | FaultEvent
        try:
            if uplink.kind is UplinkKind.REPORT:
                value = decode_report(payload)
            else:
                value = decode_fault(payload)
        except ProtocolError as err:
            raise _Refused("bad-payload", err.reason) from err
        if value.lamp_id != uplink.lamp_id:
            raise _Refused("lamp-mismatch", f"the payload is from lamp {value.lamp_id!r}")
        return value

    async def _store(self, event: FaultEvent) -> None:
        delay = STORAGE_RETRY_S
        for attempt in range(1, STORAGE_ATTEMPTS + 1):
            try:
                await self.handler.on_fault(event)
            except StorageError:
                if attempt == STORAGE_ATTEMPTS:
                    raise
                self.counters.incr("mqtt.retried.storage")
                await asyncio.sleep(delay)
                delay *= 2
            else:
                return


class MqttPublisher(_Side):
    """The controller's notices, published to the broker for other city applications."""

    side = "events"

    def __init__(self, config: MqttConfig, hub: NoticeHub, counters: Counters) -> None:
        super().__init__(config, counters)
        self._hub = hub
        self._source: NoticeSource | None = None
        self._failed = Refusals(counters, "mqtt.failed")
        self._pending: deque[Outgoing] = deque()
        self._in_flight: dict[int, Outgoing] = {}
        self._numbers = itertools.count()
        self._retained: dict[str, tuple[str, bytes]] = {}
        """Per lamp: the topic and fingerprint of the last status sent."""
        self.published = 0
        """Messages the broker has acknowledged since start-up."""
        self._progress = asyncio.Event()

    async def __aenter__(self) -> Self:
        # Subscribed at once: notices emitted before the broker answers are kept.
        self._source = self._hub.subscribe(HUB_NAME, self.config.publish_buffer)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()

    @property
    def waiting(self) -> int:
        """Messages taken from the hub and not yet acknowledged by the broker."""
        return len(self._pending) + len(self._in_flight)

    async def _session(self) -> None:
        client = self._client(f"{self.config.client_id}-events", clean_session=True)
        client.pending_calls_threshold = PUBLISHES_IN_FLIGHT + 10
        error: aiomqtt.MqttError | None = None
        async with client:
            if self._up is False:
                self._retained.clear()  # the broker may have lost what it retained
            self._connected()
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._watch(client))
                    await self._pump(client, group, asyncio.Semaphore(PUBLISHES_IN_FLIGHT))
            except* aiomqtt.MqttError as errors:
                first = errors.exceptions[0]
                error = first if isinstance(first, aiomqtt.MqttError) else None
            finally:
                # What was in flight goes out first after the reconnect, in its order. (The
                # slots are the session's own: a send cancelled before it started never
                # gives its slot back.)
                self._pending.extendleft(
                    out for _, out in sorted(self._in_flight.items(), reverse=True)
                )
                self._in_flight.clear()
        if error is not None:
            raise error

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        """Raise ``MqttError`` when the connection breaks (nothing is subscribed here)."""
        async for message in client.messages:
            log.debug("MQTT events: unexpected message on %s", message.topic)

    async def _pump(
        self, client: aiomqtt.Client, group: asyncio.TaskGroup, slots: asyncio.Semaphore
    ) -> None:
        while True:
            await slots.acquire()
            try:
                out = await self._next()
            except BaseException:
                slots.release()
                raise
            number = next(self._numbers)
            self._in_flight[number] = out
            group.create_task(self._send(client, number, out, slots))

    async def _next(self) -> Outgoing:
        while not self._pending:
            source = self._source
            if source is None:
                raise RuntimeError("the publisher must be entered before it runs")
            self._pending.extend(self.messages(await source.get()))
        return self._pending.popleft()

    def messages(self, notice: Notice) -> list[Outgoing]:
        """What to publish for ``notice``: nothing for a status that says nothing new."""
        try:
            out = outgoing(notice, self.topics)
        except (ProtocolError, ValueError) as err:
            self._failed("encode", type(notice).__name__, str(err))
            return []
        if not isinstance(notice, LampNotice):
            return [out]
        last = self._retained.get(notice.lamp_id)
        if last == (out.topic, out.fingerprint):
            self.counters.incr("mqtt.unchanged")
            return []
        self._retained[notice.lamp_id] = (out.topic, out.fingerprint)
        if last is not None and last[0] != out.topic:
            return [clear_retained(last[0]), out]  # the lamp moved to another zone
        return [out]

    async def _send(
        self, client: aiomqtt.Client, number: int, out: Outgoing, slots: asyncio.Semaphore
    ) -> None:
        try:
            await client.publish(
                out.topic, out.payload, qos=out.qos, retain=out.retain, timeout=PUBLISH_TIMEOUT_S
            )
        except aiomqtt.MqttError:
            raise  # it stays in flight: sent again after the reconnect
        except Exception as err:  # a message the client refuses is dropped, not retried
            del self._in_flight[number]
            self._failed("publish", out.topic, f"{type(err).__name__}: {err}")
        else:
            del self._in_flight[number]
            self.counters.incr("mqtt.published")
            self.published += 1
            self._progress.set()
        finally:
            slots.release()

    async def wait_published(self, count: int) -> None:
        """Wait until the broker has acknowledged at least ``count`` messages."""
        while self.published < count:
            self._progress.clear()
            await self._progress.wait()


class MqttLink:
    """The controller's MQTT adapter: the sides that ``config`` turns on, as one resource.

    Enter it, then run ``loops()`` in the daemon's task group; cancelling them disconnects.
    """

    def __init__(
        self, config: MqttConfig, handler: UplinkHandler, hub: NoticeHub, counters: Counters
    ) -> None:
        self.ingest = MqttIngest(config, handler, counters) if config.subscribe else None
        self.publisher = MqttPublisher(config, hub, counters) if config.publish else None

    async def __aenter__(self) -> Self:
        if self.publisher is not None:
            await self.publisher.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.publisher is not None:
            await self.publisher.__aexit__(exc_type, exc, tb)

    def loops(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """The loops to run, named."""
        loops: list[tuple[str, Coroutine[Any, Any, None]]] = []
        if self.ingest is not None:
            loops.append(("mqtt ingest", self.ingest.run()))
        if self.publisher is not None:
            loops.append(("mqtt events", self.publisher.run()))
        return loops
