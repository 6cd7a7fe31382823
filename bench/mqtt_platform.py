"""The MQTT benchmark's platform: lamp reports published to the broker by a lean MQTT 3.1.1
client, so that the load generator costs far less than the ingest it measures.

The platform used to be an ``aiomqtt`` client. Over paho-mqtt, every PUBACK cost it about as
much as a report costs the controller (a system call per header byte, a task per publish), so
that at about 9,000 reports/s it, not the controller, set the pace (docs/performance.md, "MQTT
with a lean platform"). This client does only what a publisher of QoS 1 messages needs:
CONNECT, PUBLISH with a packet id, PUBACK, with a window of publishes in flight (MQTT 3.1.1,
sections 3.1 to 3.4). It runs in a process of its own (``bench.mqtt``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
QOS1 = 0b0010
MIDS = 0xFFFF
"""Packet ids run 1 to 65,535; more than that in flight would repeat one."""


class PlatformError(Exception):
    """The broker refused the platform or went away before every report was acknowledged."""


def remaining_length(size: int) -> bytes:
    """MQTT's variable-length encoding of a packet's remaining length (section 2.2.3)."""
    out = bytearray()
    while True:
        size, digit = divmod(size, 128)
        out.append(digit | (0x80 if size else 0))
        if not size:
            return bytes(out)


def _string(text: bytes) -> bytes:
    return len(text).to_bytes(2, "big") + text


def connect_packet(client_id: str) -> bytes:
    """CONNECT: protocol level 4 (3.1.1), a clean session, no keep-alive (a benchmark's
    connection lives seconds)."""
    body = _string(b"MQTT") + bytes([4, 0b0000_0010]) + (0).to_bytes(2, "big")
    body += _string(client_id.encode())
    return bytes([CONNECT << 4]) + remaining_length(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, mid: int) -> bytes:
    """PUBLISH at QoS 1 with packet id ``mid``."""
    body = _string(topic) + mid.to_bytes(2, "big") + payload
    return bytes([PUBLISH << 4 | QOS1]) + remaining_length(len(body)) + body


class Platform(asyncio.Protocol):
    """Publishes ``messages`` (topic, payload) at QoS 1, ``window`` in flight; ``done``
    resolves when the broker has acknowledged the last."""

    def __init__(self, messages: Sequence[tuple[str, bytes]], window: int, client_id: str) -> None:
        if not 0 < window < MIDS:
            raise ValueError(f"window must be 1 to {MIDS - 1}, not {window}")
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
        transport.write(connect_packet(self._client_id))

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
        at, acked = 0, 0
        while True:
            header = self._header(buffer, at)
            if header is None:
                break
            kind, start, end = header
            if kind == PUBACK:
                acked += 1
            elif kind == CONNACK:
                code = buffer[start + 1] if end - start >= 2 else -1
                if code != 0:
                    self._fail(f"the broker refused the connection (CONNACK code {code})")
                    return
                self._send(self._window)
            at = end
        del buffer[:at]
        if acked:
            self.acknowledged += acked
            if self.acknowledged >= len(self._messages):
                if not self.done.done():
                    self.done.set_result(None)
                return
            self._send(acked)

    @staticmethod
    def _header(buffer: bytearray, at: int) -> tuple[int, int, int] | None:
        """The packet type, and where its body starts and ends, of the whole packet at ``at``;
        None if it has not all arrived."""
        size, shift, index = 0, 0, at + 1
        while True:
            if index >= len(buffer):
                return None
            digit = buffer[index]
            size |= (digit & 0x7F) << shift
            index += 1
            if not digit & 0x80:
                break
            shift += 7
        if index + size > len(buffer):
            return None
        return buffer[at] >> 4, index, index + size

    def _send(self, count: int) -> None:
        transport = self._transport
        if transport is None:
            return
        packets = []
        for topic, payload in self._messages[self._sent : self._sent + count]:
            self._mid = self._mid % MIDS + 1
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
