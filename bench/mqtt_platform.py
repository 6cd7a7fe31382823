"""The MQTT benchmark's platform: lamp reports published to the broker by a lean MQTT 3.1.1
client, so that the load generator costs far less than the ingest it measures.

The platform used to be an ``aiomqtt`` client. Over paho-mqtt, every PUBACK cost it about as
much as a report costs the controller (a system call per header byte, a task per publish), so
that at about 9,000 reports/s it, not the controller, set the pace (docs/performance.md, "MQTT
with a lean platform"). This client does only what a publisher of QoS 1 messages needs:
CONNECT, PUBLISH with a packet id, PUBACK, with a window of publishes in flight (MQTT 3.1.1,
sections 3.1 to 3.4), with the packets of ``lighting.protocol.mqttwire``. It runs in a
process of its own (``bench.mqtt``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lighting.protocol.mqttwire import (
    CONNACK,
    MAX_PACKET_ID,
    PUBACK,
    connack_code,
    connect_packet,
    publish_packet,
    split,
)


class PlatformError(Exception):
    """The broker refused the platform or went away before every report was acknowledged."""


class Platform(asyncio.Protocol):
    """Publishes ``messages`` (topic, payload) at QoS 1, ``window`` in flight; ``done``
    resolves when the broker has acknowledged the last."""

    def __init__(self, messages: Sequence[tuple[str, bytes]], window: int, client_id: str) -> None:
        if not 0 < window < MAX_PACKET_ID:
            raise ValueError(f"window must be 1 to {MAX_PACKET_ID - 1}, not {window}")
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = loop.create_future()
        self._messages = [(topic.encode(), payload) for topic, payload in messages]
        self._window = window
        self._client_id = client_id
        self._sent = 0
        self.acknowledged = 0
        self._mid = 0
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        if not self._messages:
            self.done.set_result(None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        # A clean session and no keep-alive: a benchmark's connection lives seconds.
        transport.write(connect_packet(self._client_id, clean_session=True, keepalive_s=0))

    def close(self) -> None:
        """Close the connection; whoever waited for ``done`` has stopped waiting."""
        if not self.done.done():
            self.done.cancel()
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(
                PlatformError(
                    f"the broker closed the connection after {self.acknowledged} of "
                    f"{len(self._messages)} reports: {exc or 'end of stream'}"
                )
            )

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        packets, used = split(buffer)
        del buffer[:used]
        acked = 0
        for kind, _, body in packets:
            if kind == PUBACK:
                acked += 1
            elif kind == CONNACK:
                code = connack_code(body)
                if code != 0:
                    self._fail(f"the broker refused the connection (CONNACK code {code})")
                    return
                self._send(self._window)
        if acked:
            self.acknowledged += acked
            if self.acknowledged >= len(self._messages):
                if not self.done.done():
                    self.done.set_result(None)
                return
            self._send(acked)

    def _send(self, count: int) -> None:
        transport = self._transport
        if transport is None:
            return
        packets = []
        for topic, payload in self._messages[self._sent : self._sent + count]:
            self._mid = self._mid % MAX_PACKET_ID + 1
            packets.append(publish_packet(topic, payload, self._mid))
        self._sent += len(packets)
        if packets:
            transport.write(b"".join(packets))

    def _fail(self, why: str) -> None:
        if not self.done.done():
            self.done.set_exception(PlatformError(why))
        if self._transport is not None:
            self._transport.close()


async def publish(
    host: str, port: int, messages: Sequence[tuple[str, bytes]], *, window: int, timeout_s: float
) -> None:
    """Publish ``messages`` and return once the broker has acknowledged them all."""
    loop = asyncio.get_running_loop()
    _, platform = await loop.create_connection(
        lambda: Platform(messages, window, "bench-platform"), host, port
    )
    try:
        async with asyncio.timeout(timeout_s):
            await platform.done
    finally:
        platform.close()
