"""The daemon killed (SIGKILL) in the middle of a city-wide change, and started again.

Issue 9, "Faults survived". Everything is real: ``lighting run`` as a process of its own
(the way systemd runs it), a simulated city of 200 lamps in this process (real CoAP over
loopback; two of its five cells slow and lossy, so that the change is still on its way
when the kill comes; every lamp reports every second), three lamps more that report back
to back and note each report the daemon acknowledged (2.04), and the daemon's SQLite file.

An operator overrides every zone through the control channel. While the commands are on
their way the daemon is killed with SIGKILL: no drain, no flush, so the command outcomes
gathered in memory, the reports in hand and the change's settlement die with it. It is
started again on the same database, and then:

- the change completes: every lamp ends at the override's level, as the lamps see it, and
  the record says every lamp acknowledged it;
- no report the daemon acknowledged is missing from the database, before the kill or after;
- nothing is stored twice: one report row per (lamp, sequence number), one command per
  lamp in each change, and no command left pending.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lighting.client import ControlClient
from lighting.const import ACKNOWLEDGED, PENDING
from lighting.keys import KeyStore, provision
from simulator import LampNode, LampSpec, Simulator, build_fleet
from tests.conftest import free_udp_port

WAIT_S = 30.0
EXAMPLE = Path(__file__).parents[1] / "lighting" / "example.toml"
ZONES = ("centre", "north", "harbour")
LAMPS = 200
LEVEL = 37
"""The override's level: no program of the example uses it."""
SLOW_CELLS = {"cell-0004": (0.25, 0.2), "cell-0005": (0.25, 0.2)}
"""One-way latency (s) and loss of the cells that hold the change back: 80 lamps."""
KILL_AFTER = 100
"""Lamps at the new level when the daemon is killed, of 203; the fast cells hold 123."""
REPORTERS = 3
SETTLED = re.compile(
    rf"change (\d+): zone (\w+) to {LEVEL}% \(.*\): (\d+) of (\d+) acknowledged, (\d+) failed"
)


@dataclass
class Daemon:
    """``lighting run`` as a process: ready when it tells its service manager, its JSON log
    read line by line (so that its pipe never fills and a test can wait for a line)."""

    env: Mapping[str, str]
    manager: socket.socket
    process: asyncio.subprocess.Process | None = None
    messages: list[str] = field(default_factory=list)
    _logged: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.messages = []
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lighting",
            "run",
            "--config",
            str(EXAMPLE),
            "--log-format",
            "json",
            env=dict(self.env),
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read(self.process))
        async with asyncio.timeout(WAIT_S):
            await _notified(self.manager, "READY=1")

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            message = json.loads(line)["message"]
            async with self._logged:
                self.messages.append(message)
                self._logged.notify_all()

    async def logged(self, pattern: re.Pattern[str], count: int) -> list[re.Match[str]]:
        """Wait until ``count`` lines of this run of the daemon match ``pattern``."""

        def found() -> list[re.Match[str]]:
            return [m for m in map(pattern.search, self.messages) if m is not None]

        async with self._logged:
            await self._logged.wait_for(lambda: len(found()) >= count)
        return found()

    async def stop(self, signum: signal.Signals) -> int:
        """Send ``signum`` and wait for the process to end; its return code."""
        assert self.process is not None
        self.process.send_signal(signum)
        code = await self.process.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def aclose(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()


async def _notified(manager: socket.socket, wanted: str) -> None:
    """Read the daemon's notifications until one holds ``wanted``."""
    loop = asyncio.get_running_loop()
    while wanted not in (await loop.sock_recv(manager, 4096)).decode():
        pass


@dataclass
class Reporter:
    """A lamp that reports back to back and notes each report the daemon acknowledged."""

    node: LampNode
    acknowledged: set[int] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        node = self.node
        while not stop.is_set():
            node.reported.clear()
            seq = node.lamp.seq + 1  # the number the report takes (nothing else is sent)
            await node.send_report()
            if node.reported.is_set():
                self.acknowledged.add(seq)


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    env = {
        **os.environ,
        "CITYLIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'citylight.db'}",
        "CITYLIGHT_COAP__PORT": str(free_udp_port()),
        "CITYLIGHT_COAP__ACK_TIMEOUT_S": "0.6",
        "CITYLIGHT_COAP__MAX_RETRANSMIT": "2",
        "CITYLIGHT_CONTROL__SOCKET": str(tmp_path / "c.sock"),
        "CITYLIGHT_METRICS__ENABLED": "false",
        "CITYLIGHT_DELIVERY__PER_CELL": "4",
        "CITYLIGHT_DELIVERY__CONCURRENCY": "64",
        "CITYLIGHT_DELIVERY__JITTER_S": "0.2",
        "CITYLIGHT_DELIVERY__BACKOFF_S": "0.2",
        "CITYLIGHT_DELIVERY__BACKOFF_MAX_S": "1",
        "CITYLIGHT_DELIVERY__MAX_ATTEMPTS": "10",
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        # Secured: the restart after the kill must also recover its replay windows (Echo).
        "CITYLIGHT_COAP__KEYS": str(tmp_path / "keys"),
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(env["NOTIFY_SOCKET"])
        manager.setblocking(False)
        running = Daemon(env, manager)
        try:
            yield running
        finally:
            await running.aclose()


def _reporters(base: str, controller: tuple[str, int]) -> list[Reporter]:
    port = free_udp_port()
    prefix = base.rsplit(".", 2)[0]
    return [
        Reporter(
            LampNode(
                LampSpec(
                    lamp_id=f"R{number:04d}",
                    zone=ZONES[number % len(ZONES)],
                    latitude=36.71,
                    longitude=119.16,
                    wattage=60,
                    address=f"{prefix}.1.{number + 1}",
                    port=port,
                    cell="cell-reporters",
                    report_period_s=1,
                ),
                controller,
                clock=asyncio.get_running_loop().time,
                rng=random.Random(number),
            )
        )
        for number in range(REPORTERS)
    ]


async def _at_level(nodes: Iterable[LampNode], count: int) -> None:
    """Wait until ``count`` of ``nodes`` have been put at ``LEVEL``."""
    waits = [asyncio.ensure_future(node.wait_level(LEVEL)) for node in nodes]
    try:
        for done, waiting in enumerate(asyncio.as_completed(waits), start=1):
            await waiting
            if done >= count:
                return
    finally:
        for wait in waits:
            wait.cancel()


def _rows(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """The record as it is on disk, read with SQLite itself."""
    with closing(sqlite3.connect(db)) as connection:
        return connection.execute(sql, params).fetchall()


async def test_a_change_survives_sigkill_and_no_acknowledged_report_is_lost(
    daemon: Daemon, tmp_path: Path, lamp_base: str
) -> None:
    db = tmp_path / "citylight.db"
    controller = ("127.0.0.1", int(daemon.env["CITYLIGHT_COAP__PORT"]))
    specs = build_fleet(
        LAMPS, zones=ZONES, base_address=lamp_base, port=free_udp_port(), report_period_s=1
    )
    reporters = _reporters(lamp_base, controller)
    keys = Path(daemon.env["CITYLIGHT_COAP__KEYS"])
    provision(keys, [s.lamp_id for s in specs] + [r.node.spec.lamp_id for r in reporters])
    await daemon.start()
    lamp_keys = KeyStore(keys, "lamps")
    with lamp_keys:
        for reporter in reporters:
            reporter.node.security = lamp_keys.by_lamp[reporter.node.spec.lamp_id]
        await _sigkill_mid_change(
            daemon, db, controller=controller, specs=specs, reporters=reporters, lamp_keys=lamp_keys
        )


async def _sigkill_mid_change(
    daemon: Daemon,
    db: Path,
    *,
    controller: tuple[str, int],
    specs: list[LampSpec],
    reporters: list[Reporter],
    lamp_keys: KeyStore,
) -> None:
    stop_reporting = asyncio.Event()
    reporting: list[asyncio.Task[None]] = []
    async with Simulator(specs, controller, keys=lamp_keys) as sim:
        lamps = [*sim.nodes.values(), *(reporter.node for reporter in reporters)]
        try:
            async with asyncio.timeout(WAIT_S):
                for reporter in reporters:
                    await reporter.node.open()
                    assert await reporter.node.register()
                await sim.wait_registered()
            reporting += [asyncio.create_task(r.run(stop_reporting)) for r in reporters]
            for cell, (latency_s, loss) in SLOW_CELLS.items():
                sim.cells[cell].latency_s, sim.cells[cell].loss = latency_s, loss

            # The operator's city-wide change; the kill comes while it is on its way.
            async with ControlClient(daemon.env["CITYLIGHT_CONTROL__SOCKET"]) as client:
                for zone in ZONES:
                    await client.override(level=LEVEL, minutes=120, by="test", zone=zone)
            async with asyncio.timeout(WAIT_S):
                await _at_level(lamps, KILL_AFTER)
            assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
            reached_before = sum(1 for node in lamps if node.lamp.level == LEVEL)
            acknowledged_before = {r.node.spec.lamp_id: set(r.acknowledged) for r in reporters}
            [(pending_at_kill,)] = _rows(
                db, "SELECT count(*) FROM command WHERE outcome = ?", PENDING
            )
            assert reached_before < len(lamps)  # the change was on its way
            assert pending_at_kill > 0  # and the record says so
            assert all(acknowledged_before.values())  # reports had been acknowledged

            # Started again on the same database: it resumes and completes the change.
            await daemon.start()
            async with asyncio.timeout(WAIT_S):
                await _at_level(lamps, len(lamps))
                settled = await daemon.logged(SETTLED, len(ZONES))
            stop_reporting.set()
            async with asyncio.timeout(WAIT_S):
                await asyncio.gather(*reporting)
            assert sorted(m[2] for m in settled) == sorted(ZONES)
            assert all(m[3] == m[4] and m[5] == "0" for m in settled)  # all acknowledged
            assert await daemon.stop(signal.SIGTERM) == 0
        finally:
            stop_reporting.set()
            for reporter in reporters:
                await reporter.node.close()  # an uplink on its way ends unanswered
            await asyncio.gather(*reporting, return_exceptions=True)
        assert {node.lamp.level for node in lamps} == {LEVEL}

    # No report the daemon acknowledged is missing, before the kill or after.
    stored: dict[str, set[int]] = {}
    for lamp_id, seq in _rows(db, "SELECT lamp_id, seq FROM report WHERE lamp_id LIKE 'R%'"):
        stored.setdefault(lamp_id, set()).add(seq)
    for reporter in reporters:
        lamp_id = reporter.node.spec.lamp_id
        assert acknowledged_before[lamp_id] < reporter.acknowledged  # it went on after
        assert reporter.acknowledged <= stored[lamp_id]
    # Nothing twice: a report per (lamp, sequence number), a command per lamp and change,
    # and no command left pending.
    twice = "SELECT {0} FROM {1} GROUP BY {0} HAVING count(*) > 1"
    assert _rows(db, twice.format("lamp_id, seq", "report")) == []
    assert _rows(db, twice.format("change_id, lamp_id", "command WHERE change_id > 0")) == []
    assert _rows(db, "SELECT id FROM command WHERE outcome = ?", PENDING) == []
    # Every lamp's desired level is the override's, and the record has it acknowledged.
    desired = _rows(
        db,
        "SELECT lamp.desired_level, lamp.delivered, command.outcome"
        " FROM lamp JOIN command ON command.id = lamp.desired_command_id",
    )
    assert len(desired) == len(lamps)
    assert set(desired) == {(LEVEL, 1, ACKNOWLEDGED)}
