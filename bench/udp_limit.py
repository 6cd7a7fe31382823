"""The machine's limit: plain UDP request/response round trips per second between two
processes on loopback, with a window of requests in flight (asyncio, same loop as ours).

asyncio's datagram transport reads each datagram into a 256 KiB buffer. That is above
glibc's initial mmap threshold (128 KiB), so in a fresh interpreter every datagram costs an
mmap, an mremap and a munmap (seen with ``strace -c``), and the echo runs at a third of
its speed: 26,000 to 36,000 round trips/s on this machine, against 72,000 to 113,000 once
the threshold has moved. glibc raises the threshold for good when a block above it is
freed, which a process that has imported the controller (SQLAlchemy's import does it) has
already done. ``measure`` does it first, on purpose (``_raise_mmap_threshold``), so the
limit is the machine's and not an accident of what was imported before it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import time
from multiprocessing.synchronize import Event as EventType


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


def _raise_mmap_threshold() -> None:
    """Free one block of 1 MiB: glibc's dynamic mmap threshold rises to it, and the 256 KiB
    receive buffers come from the heap from then on (each process does it)."""
    block = bytearray(1 << 20)
    del block


def _serve(port: int, ready: EventType, stop: EventType) -> None:
    _raise_mmap_threshold()  # inherited when forked; not when spawned

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", port))
        ready.set()
        await loop.run_in_executor(None, stop.wait)
        transport.close()

    asyncio.run(main())


class _Client(asyncio.DatagramProtocol):
    def __init__(self, window: int, deadline: float) -> None:
        self.window, self.deadline = window, deadline
        self.done = asyncio.get_running_loop().create_future()
        self.count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        for _ in range(self.window):
            self.transport.sendto(b"x" * 20)  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.count += 1
        if time.monotonic() < self.deadline:
            self.transport.sendto(data)  # type: ignore[attr-defined]
        elif not self.done.done():
            self.done.set_result(None)


def measure(seconds: float = 2.0, window: int = 64) -> dict[str, float]:
    """Round trips per second, echo server in its own process."""
    _raise_mmap_threshold()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(port, ready, stop), daemon=True)
    server.start()
    try:
        if not ready.wait(10):
            raise RuntimeError("the echo server did not start")

        async def run() -> int:
            loop = asyncio.get_running_loop()
            deadline = time.monotonic() + seconds
            transport, client = await loop.create_datagram_endpoint(
                lambda: _Client(window, deadline), remote_addr=("127.0.0.1", port)
            )
            try:
                async with asyncio.timeout(seconds + 5):
                    await client.done
            except TimeoutError:
                pass  # datagrams lost on loopback: count what came back
            transport.close()
            return client.count

        count = asyncio.run(run())
    finally:
        stop.set()
        server.join(5)
    return {"round_trips_per_s": round(count / seconds), "window": window, "seconds": seconds}
