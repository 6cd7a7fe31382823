"""Fan-out: a city-wide change to N simulated lamps, from the change to every command
acknowledged and recorded in the database (controller and simulator in one process)."""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from lighting.config import load_settings
from lighting.controller import Controller
from lighting.demo import free_udp_port
from simulator import Simulator, build_fleet


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(lamps: int, per_cell: int, concurrency: int, workdir: Path) -> dict[str, float]:
    port = free_udp_port()
    settings = load_settings(
        None,
        metrics={"enabled": False},  # no fixed port: benches may run side by side
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        coap={"host": "127.0.0.1", "port": port, "ack_timeout_s": 2.0, "max_retransmit": 4},
        delivery={"per_cell": per_cell, "concurrency": concurrency, "jitter_s": 0.0},
        contact={"missed_reports": 1000},
    )
    specs = build_fleet(
        lamps, zones=["centre"], base_address="127.60.0.1", port=port, report_period_s=3600
    )
    async with Controller(settings) as controller:
        started = time.monotonic()
        async with Simulator(specs, controller.address) as sim:
            async with asyncio.timeout(600):
                await sim.wait_registered()
            registered_s = time.monotonic() - started
            cpu0, t0 = _cpu(), time.monotonic()
            change = await controller.apply_level("centre", 80, "bench", datetime.now(UTC))
            elapsed = time.monotonic() - t0
            cpu = _cpu() - cpu0
            commands = await controller.store.call(
                controller.repository.commands, change_id=change.change_id, limit=lamps
            )
    latencies = sorted(c.latency_ms for c in commands if c.latency_ms is not None)
    return {
        "lamps": lamps,
        "per_cell": per_cell,
        "concurrency": concurrency,
        "registered_s": round(registered_s, 2),
        "fanout_s": round(elapsed, 3),
        "commands_per_s": round(change.acknowledged / elapsed),
        "acknowledged": change.acknowledged,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else -1,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1) if latencies else -1,
        "cpu_s": round(cpu, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def measure(lamps: int, per_cell: int = 40, concurrency: int = 1024) -> dict[str, float]:
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")
    with tempfile.TemporaryDirectory() as workdir:
        return asyncio.run(_run(lamps, per_cell, concurrency, Path(workdir)))
