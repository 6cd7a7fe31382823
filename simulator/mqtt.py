"""The fleet's MQTT uplink: what a city's NB-IoT platform does with its devices' data.

Some platforms forward what the lamps send to an MQTT broker instead of letting it reach
the controller over CoAP. With ``--uplink mqtt`` the simulated lamps do the same with their
reports and fault events: each lamp hands its uplink (the CBOR body of protocol v1) to one
client shared by the whole fleet, which publishes it with QoS 1 on
``{root}/up/{zone}/{lamp}/report`` or ``.../fault`` (``lighting.protocol.topics``).
Registration stays on CoAP: the controller learns the lamp's address from it.

The client keeps a bounded buffer of uplinks not yet acknowledged by the broker: an uplink
is sent again after a reconnect until the broker acknowledges it; when the buffer is full
the oldest is dropped and counted (a newer report says more than an old one). The client
reconnects by itself with exponential backoff and jitter, and says once that the broker
went away and once that it is back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import aiomqtt

from lighting.protocol import DEFAULT_ROOT, Topics, UplinkKind

log = logging.getLogger(__name__)

IN_FLIGHT = 100
"""Publishes awaiting the broker's acknowledgement at once (one by one is half as fast)."""
PUBLISH_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Where the fleet's platform publishes, and how it holds on."""

    host: str = "127.0.0.1"
    port: int = 1883
    root: str = DEFAULT_ROOT
    client_id: str = "citylight-sim"
    buffer: int = 10_000
    """Uplinks kept while the broker is away; beyond it the oldest are dropped."""
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 10.0

    def __post_init__(self) -> None:
        Topics(self.root)  # refuses a root that is not one safe topic level
        if self.buffer < 1:
            raise ValueError(f"an uplink buffer holds at least one message, not {self.buffer}")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ValueError("reconnect delays must satisfy 0 < min <= max")


class MqttUplink:
    """One MQTT client for the fleet, with its buffer and its reconnect loop."""

    def __init__(self, options: MqttOptions, *, rng: random.Random | None = None) -> None:
        self.options = options
        self.topics = Topics(options.root)
        self.connected = asyncio.Event()
        self.published = 0
        """Uplinks the broker has acknowledged."""
        self.dropped = 0
        """Uplinks dropped because the buffer was full."""
        self._rng = rng or random.Random()
        self._buffer: deque[tuple[str, bytes]] = deque()
        self._ready = asyncio.Event()
        self._progress = asyncio.Event()
        self._in_flight: dict[int, tuple[str, bytes]] = {}
        self._numbers = itertools.count()
        self._up: bool | None = None

    @property
    def waiting(self) -> int:
        """Uplinks not yet acknowledged by the broker."""
        return len(self._buffer) + len(self._in_flight)

    def send(self, zone: str, lamp_id: str, kind: UplinkKind, payload: bytes) -> None:
        """Queue one lamp's uplink; it goes out as soon as the broker takes it."""
        self._buffer.append((self.topics.uplink(zone, lamp_id, kind), payload))
        self._trim()
        self._ready.set()

    def _trim(self) -> None:
        while len(self._buffer) > self.options.buffer:
            self._buffer.popleft()
            self.dropped += 1
            if self.dropped == 1:
                log.warning(
                    "MQTT uplink: more than %d uplinks wait for the broker; dropping the oldest",
                    self.options.buffer,
                )

    async def wait_published(self, count: int) -> None:
        """Wait until the broker has acknowledged at least ``count`` uplinks."""
        while self.published < count:
            self._progress.clear()
            await self._progress.wait()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.waiting:
            log.info("MQTT uplink: %d uplinks were not sent", self.waiting)

    async def run(self) -> None:
        """Connect and publish; after a loss wait (backoff with jitter) and connect again."""
        attempt = 0
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as err:
                self._lost(err)
            if self._up is not False:
                attempt = 0
            delay = min(self.options.reconnect_max_s, self.options.reconnect_min_s * 2.0**attempt)
            attempt = min(attempt + 1, 32)
            await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))

    def _lost(self, err: aiomqtt.MqttError) -> None:
        self.connected.clear()
        if self._up is not False:
            where = f"{self.options.host}:{self.options.port}"
            log.warning("MQTT uplink: broker %s is away (%s); uplinks wait", where, err)
        self._up = False

    async def _session(self) -> None:
        options = self.options
        client = aiomqtt.Client(
            options.host, options.port, identifier=options.client_id, clean_session=True
        )
        client.pending_calls_threshold = IN_FLIGHT + 10
        error: aiomqtt.MqttError | None = None
        async with client:
            if self._up is False:
                log.warning("MQTT uplink: broker is back; %d uplinks to send", self.waiting)
            self._up = True
            self.connected.set()
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._watch(client))
                    # The session's own slots: a publish cancelled before it started
                    # never gives its slot back.
                    await self._pump(client, group, asyncio.Semaphore(IN_FLIGHT))
            except* aiomqtt.MqttError as errors:
                first = errors.exceptions[0]
                error = first if isinstance(first, aiomqtt.MqttError) else None
            finally:
                # Not acknowledged: sent again first after the reconnect, in their order.
                self._buffer.extendleft(
                    item for _, item in sorted(self._in_flight.items(), reverse=True)
                )
                self._in_flight.clear()
                self._trim()
        if error is not None:
            raise error

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        """Raise ``MqttError`` when the connection breaks (the fleet subscribes to nothing)."""
        async for message in client.messages:
            log.debug("MQTT uplink: unexpected message on %s", message.topic)

    async def _pump(
        self, client: aiomqtt.Client, group: asyncio.TaskGroup, slots: asyncio.Semaphore
    ) -> None:
        while True:
            await slots.acquire()
            try:
                while not self._buffer:
                    self._ready.clear()
                    await self._ready.wait()
            except BaseException:
                slots.release()
                raise
            number = next(self._numbers)
            self._in_flight[number] = self._buffer.popleft()
            group.create_task(self._publish(client, number, slots))

    async def _publish(self, client: aiomqtt.Client, number: int, slots: asyncio.Semaphore) -> None:
        topic, payload = self._in_flight[number]
        try:
            await client.publish(topic, payload, qos=1, timeout=PUBLISH_TIMEOUT_S)
        finally:
            slots.release()
        del self._in_flight[number]
        self.published += 1
        self._progress.set()
