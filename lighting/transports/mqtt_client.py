"""The MQTT client of the adapter: aiomqtt, with paho-mqtt's socket read a buffer at a time.

paho-mqtt (2.2) reads a packet with one ``recv`` for its first byte, one for each byte of
its length and one for the rest, and aiomqtt reads one packet per readable event of the
event loop. A report of about 100 bytes so cost four system calls and a turn of the loop,
which made the MQTT ingest a third slower than the same reports over CoAP
(docs/performance.md, "MQTT: paho's socket read a buffer at a time").

``BufferedSocket`` stands between paho and its socket once the connection is open: a read
takes what the kernel holds (up to ``READ_SIZE``) in one ``recv`` and serves paho's small
reads from it. It says how much it holds through ``pending()``, which aiomqtt's reader
already asks of TLS sockets (whose decrypted bytes the event loop cannot see) to keep
reading until nothing is left, so every packet that came in one read is handled in the
same turn of the loop. A turn refills at most ``FILLS_PER_TURN`` times: under a flood the
reader then lets the loop run (the kernel still holds data, so the loop calls it again),
and the tasks that store and acknowledge what was read are not starved.

Writes are unchanged: paho writes a packet at a time, and the controller's writes (the
acknowledgements and the notices) are small next to the reads.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

import aiomqtt

if TYPE_CHECKING:
    import paho.mqtt.client as paho

READ_SIZE = 65_536
"""Bytes asked of the kernel in one read: some 600 reports."""

FILLS_PER_TURN = 4
"""Reads of the kernel in one turn of the event loop, at most (for a plain socket)."""


class BufferedSocket:
    """paho's socket, read ``READ_SIZE`` bytes at a time. paho reads only from aiomqtt's
    reader callback, in the event loop's thread."""

    def __init__(self, sock: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._loop = loop
        self._tls_pending = getattr(sock, "pending", None)
        """A TLS socket's count of bytes decrypted but not read; None for a plain one."""
        self._data = b""
        self._at = 0
        self._fills = 0
        self.reads = 0
        """Reads of the kernel (or of the TLS layer) since the connection opened."""

    def recv(self, buffer_size: int) -> bytes:
        at, data = self._at, self._data
        if at >= len(data):
            inner = self._inner_pending()
            if self._fills >= FILLS_PER_TURN and not inner:
                # Not an empty socket: the loop's next turn finds it readable again.
                raise BlockingIOError("this turn's reads are spent")
            data = bytes(self._sock.recv(READ_SIZE))  # BlockingIOError, TLS errors: to paho
            if not data:
                return data  # end of stream: paho sees the connection lost
            if not self._fills:
                self._loop.call_soon(self._next_turn)
            self._fills += 1
            self.reads += 1
            self._data, at = data, 0
        chunk = data[at : at + buffer_size]
        self._at = at + len(chunk)
        return chunk

    def pending(self) -> int:
        """Bytes read but not yet taken by paho (and, over TLS, decrypted but not read)."""
        return len(self._data) - self._at + self._inner_pending()

    def _inner_pending(self) -> int:
        pending = self._tls_pending
        return int(pending()) if pending is not None else 0

    def _next_turn(self) -> None:
        self._fills = 0

    def send(self, buffer: bytes | bytearray) -> int:
        return int(self._sock.send(buffer))

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Messages(aiomqtt.client.MessagesIterator):
    """aiomqtt's iterator of received messages, which waits only when none is queued.

    aiomqtt's own makes a task and an ``asyncio.wait`` (on the message and on a disconnect)
    for every message, also for one already queued: without them the controller spent 1.5
    to 1.9 CPU s on ``bench.mqtt``'s 30,000 reports instead of 2.3 to 2.7. A queued message
    is returned at once; when none is, it waits as aiomqtt does. As with aiomqtt, what was
    queued when the connection broke still comes out, and then the iteration ends with
    ``MqttError``. A consumer does not give the loop a turn while messages are queued; they
    are no more than the reader took in its last turns, and the ingest takes at most
    ``HANDLERS_IN_FLIGHT`` before it waits.
    """

    async def __anext__(self) -> aiomqtt.Message:
        queue = self._client._queue
        if not queue.empty():
            return queue.get_nowait()
        return await super().__anext__()


class Client(aiomqtt.Client):
    """aiomqtt's client, its paho socket read through a ``BufferedSocket`` and its queued
    messages taken without a task each (``Messages``)."""

    @property
    def messages(self) -> Messages:
        return Messages(self)

    def forget_queued(self) -> int:
        """Drop the messages still queued (of a connection that is gone: the broker sends
        the unacknowledged ones again); how many."""
        queue, count = self._queue, 0
        while not queue.empty():
            queue.get_nowait()
            count += 1
        return count

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if isinstance(sock, socket.socket):
            # aiomqtt sets its socket options only on a socket.socket, not on the wrapper.
            for option in self._socket_options:
                sock.setsockopt(*option)
        buffered = BufferedSocket(sock, self._loop)
        client._sock = buffered  # paho has no setter: it reads and writes self._sock
        super()._on_socket_open(client, userdata, buffered)
