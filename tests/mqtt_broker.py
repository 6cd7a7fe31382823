"""A Mosquitto broker of the test's own: a free loopback port, a temporary configuration and
persistence directory, and a stop and a restart on the same port (with its sessions, queued
messages and retained messages kept, as a real broker's restart keeps them). With it, what
the MQTT tests share: a platform that publishes, and a watcher (a city application that
subscribes persistently and keeps what it gets).

``CITYLIGHT_TEST_MQTT=HOST:PORT`` names a broker to use instead (one that the tests cannot
stop: the restart tests are skipped there). Without either, the tests are skipped with the
reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiomqtt
import pytest

from lighting.config import MqttConfig
from lighting.protocol.mqttwire import split

ENV = "CITYLIGHT_TEST_MQTT"
HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
_POLL_S = 0.02
_BIND_ATTEMPTS = 3
WAIT_S = 10.0
"""The bound of every wait of the MQTT tests."""
_numbers = itertools.count(1)


def mosquitto_binary() -> str | None:
    """The path of ``mosquitto`` (Debian puts it in /usr/sbin, often not on PATH)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Broker:
    """A ``mosquitto`` process on ``127.0.0.1:port``, persistence in ``workdir``."""

    def __init__(self, binary: str, workdir: Path, *, access: Iterable[str] = ()) -> None:
        """``access``: lines of configuration that replace anonymous access (a password
        file, an ACL file), as a city's broker has them."""
        self.binary = binary
        self.workdir = workdir
        self.access = list(access)
        self.host = HOST
        self.port = 0
        self.restartable = True
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        """What the broker logged, for a failing test's message."""
        path = self.workdir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} {self.host}",
            *(self.access or ["allow_anonymous true"]),
            "persistence true",
            f"persistence_location {self.workdir}/",
            f"log_dest file {self.workdir / 'mosquitto.log'}",
            # Mosquitto keeps at most 1,000 messages per client beyond those in flight and
            # drops the rest silently; a controller's session must hold a city's reports.
            "max_queued_messages 100000",
            # The controller acknowledges a message once stored: let a batch's worth be in
            # flight (the default is 20).
            "max_inflight_messages 1000",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Run as root, mosquitto switches to the user "mosquitto", who cannot write the
            # test's private directory.
            lines.append("user root")
        path = self.workdir / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> None:
        """Start the broker (on a free port the first time, the same port after) and wait
        until it accepts connections."""
        if self._process is not None:
            raise RuntimeError("the broker is already running")
        fixed = self.port != 0
        for _ in range(1 if fixed else _BIND_ATTEMPTS):
            if not fixed:
                self.port = free_tcp_port()
            if self._spawn():
                return
        raise RuntimeError(f"mosquitto did not start on {self.host}:{self.port}:\n{self.log}")

    def _spawn(self) -> bool:
        config = self._write_config()
        process = subprocess.Popen(  # noqa: S603 - our own binary and configuration
            [self.binary, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False  # the port was taken in the meantime, or the config refused
            if _accepts(self.host, self.port):
                self._process = process
                return True
            time.sleep(_POLL_S)
        process.kill()
        process.wait(STOP_TIMEOUT_S)
        return False

    def stop(self) -> None:
        """Stop the broker as an operator would (SIGTERM): it saves its sessions first."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ExternalBroker:
    """A broker named by ``CITYLIGHT_TEST_MQTT``: used as it is, never stopped."""

    restartable = False
    log = ""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{ENV}={address!r} must be HOST:PORT")
        self.host, self.port = host, int(port)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        pytest.skip(f"the broker of {ENV} cannot be stopped by the tests")

    def start(self) -> None:
        pytest.skip(f"the broker of {ENV} cannot be started by the tests")

    def restart(self) -> None:
        pytest.skip(f"the broker of {ENV} cannot be restarted by the tests")


AnyBroker = Broker | ExternalBroker


@contextlib.contextmanager
def running_broker(workdir: Path) -> Iterator[AnyBroker]:
    """The broker of ``CITYLIGHT_TEST_MQTT``, else a fresh Mosquitto; skip if neither."""
    address = os.environ.get(ENV)
    if address:
        external = ExternalBroker(address)
        if not _accepts(external.host, external.port):
            pytest.skip(f"{ENV}={address} does not accept connections")
        yield external
        return
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip(f"no mosquitto binary (apt-get install mosquitto) and no {ENV} given")
    workdir.mkdir(parents=True, exist_ok=True)
    with Broker(binary, workdir) as broker:
        yield broker


def unique(prefix: str) -> str:
    """A client id or topic root of this test only (a shared broker may serve many runs)."""
    return f"{prefix}-{os.getpid()}-{next(_numbers)}"


def controller_config(broker: AnyBroker) -> MqttConfig:
    """The controller's MQTT settings for a test: quick reconnects, a root of its own."""
    return MqttConfig(
        enabled=True,
        host=broker.host,
        port=broker.port,
        client_id=unique("controller"),
        topic_root=unique("t"),
        keepalive_s=5,
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
    )


async def publish(broker: AnyBroker, messages: Iterable[tuple[str, bytes]]) -> None:
    """Publish every message with QoS 1, all in flight at once; returns once the broker has
    acknowledged each."""
    async with aiomqtt.Client(broker.host, broker.port, identifier=unique("platform")) as client:
        client.pending_calls_threshold = 100_000
        await asyncio.gather(*(client.publish(t, p, qos=1) for t, p in messages))


class Watcher:
    """A persistent subscriber that reconnects by itself and keeps every message it gets."""

    def __init__(self, broker: AnyBroker, topic: str) -> None:
        self.topic = topic
        self.messages: list[aiomqtt.Message] = []
        self.subscribed = asyncio.Event()
        self._changed = asyncio.Condition()
        self._client = aiomqtt.Client(
            broker.host, broker.port, identifier=unique("watcher"), clean_session=False
        )

    async def run(self) -> None:
        while True:
            try:
                async with self._client as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        self.messages.append(message)
                        async with self._changed:
                            self._changed.notify_all()
            except aiomqtt.MqttError:
                self.subscribed.clear()
            await asyncio.sleep(0.02)  # the broker is away: try again shortly

    async def wait(self, done: Callable[[list[aiomqtt.Message]], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: done(self.messages))

    async def wait_count(self, count: int) -> None:
        await self.wait(lambda messages: len(messages) >= count)


@contextlib.asynccontextmanager
async def watching(broker: AnyBroker, topic: str) -> AsyncIterator[Watcher]:
    """A running ``Watcher`` of ``topic``, subscribed before this yields."""
    watcher = Watcher(broker, topic)
    task = asyncio.create_task(watcher.run())
    try:
        async with asyncio.timeout(WAIT_S):
            await watcher.subscribed.wait()
        yield watcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def running(loop: Coroutine[Any, Any, None], connected: asyncio.Event) -> AsyncIterator[None]:
    """Run ``loop`` as a task until the block ends; enter once ``connected`` is set."""
    task = asyncio.create_task(loop)
    try:
        async with asyncio.timeout(WAIT_S):
            await connected.wait()
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- a broker of the test's own, for what a good broker never does ----------------------

CONNACK_OK = b"\x20\x02\x00\x00"
SUBACK_1 = b"\x90\x03\x00\x01\x01"  # packet id 1, QoS 1 granted

BrokerScript = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_packets(reader: asyncio.StreamReader, count: int) -> list[tuple[int, bytes]]:
    """The next ``count`` packets the subscriber sends: (type, body)."""
    data, found = b"", list[tuple[int, bytes]]()
    while len(found) < count:
        chunk = await reader.read(65_536)
        if not chunk:
            break
        data += chunk
        packets, used = split(data)
        data = data[used:]
        found += [(packet.kind, packet.body) for packet in packets]
    return found


@contextlib.asynccontextmanager
async def fake_broker(script: BrokerScript) -> AsyncIterator[tuple[str, int]]:
    """A TCP server on loopback that runs ``script`` for each connection."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    async with server:
        yield host, port
