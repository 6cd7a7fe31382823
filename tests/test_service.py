"""``lighting run`` as a service: started the way systemd starts it (Type=notify, a
watchdog), logging JSON lines, and stopped by SIGTERM; a real process, a real notify socket,
real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

from lighting.keys import provision
from lighting.service import ServiceManager
from tests.conftest import free_udp_port

WAIT_S = 30.0
EXAMPLE = Path(__file__).parents[1] / "lighting" / "example.toml"


async def _datagram(sock: socket.socket, wanted: str) -> list[str]:
    """Read notifications until one holds ``wanted``; every one read."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    async with asyncio.timeout(WAIT_S):
        while not any(wanted in message for message in seen):
            seen.append((await loop.sock_recv(sock, 4096)).decode())
    return seen


async def test_the_daemon_runs_under_a_service_manager_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    notify = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(notify))
        manager.setblocking(False)
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(notify),
            "WATCHDOG_USEC": "200000",
            "CITYLIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'citylight.db'}",
            "CITYLIGHT_COAP__PORT": str(free_udp_port()),
            "CITYLIGHT_CONTROL__SOCKET": str(tmp_path / "c.sock"),
            "CITYLIGHT_METRICS__PORT": "0",
            "CITYLIGHT_COAP__KEYS": str(tmp_path / "keys"),
        }
        provision(tmp_path / "keys", ["L1"])
        daemon = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lighting",
            "run",
            "--config",
            str(EXAMPLE),
            "--log-format",
            "json",
            env=env,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            ready = await _datagram(manager, "READY=1")
            assert "STATUS=serving 0 lamps" in ready[-1]
            await _datagram(manager, "WATCHDOG=1")  # fed from the event loop
            await _datagram(manager, "WATCHDOG=1")
            daemon.send_signal(signal.SIGTERM)
            await _datagram(manager, "STOPPING=1")
            assert daemon.stderr is not None
            async with asyncio.timeout(WAIT_S):
                log = (await daemon.stderr.read()).decode()
                code = await daemon.wait()
        finally:
            if daemon.returncode is None:
                daemon.kill()
                await daemon.wait()
    assert code == 0
    lines = [json.loads(line) for line in log.splitlines()]  # every line is JSON
    messages = [line["message"] for line in lines]
    assert any(re.match(r"health and metrics on http://127\.0\.0\.1:\d+/", m) for m in messages)
    assert messages[-1] == "controller stopped"
    assert {line["level"] for line in lines} <= {"info", "warning"}
    assert all(line["time"].endswith("+00:00") for line in lines)


def test_without_systemd_notifications_do_nothing() -> None:
    manager = ServiceManager({})
    assert not manager.active
    assert manager.watchdog_s is None
    assert manager.notify("READY=1") is False


def test_a_watchdog_meant_for_another_process_is_not_fed(tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": "@citylight-test", "WATCHDOG_USEC": "5000000"}
    assert ServiceManager({**env, "WATCHDOG_PID": str(os.getpid())}).watchdog_s == 5.0
    other = ServiceManager({**env, "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_s is None
    assert other.address == "\0citylight-test"


def test_a_manager_that_has_gone_is_told_once_and_not_fatal(tmp_path: Path) -> None:
    manager = ServiceManager({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert manager.notify("READY=1") is False
    assert manager.notify("WATCHDOG=1") is False
