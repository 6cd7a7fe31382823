"""Ingest: N simulated lamps send reports over CoAP as fast as the controller takes them;
how many reports per second are stored (each in a batch, before it is answered), and how
long the controller's event loop ever waited (controller and simulator in one process).

The loop lag is measured by a task that asks to wake every 10 ms: the largest delay past
that is the longest stall anything on the loop suffered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench import loadgen
from lighting.config import load_settings
from lighting.controller import Controller
from lighting.demo import free_udp_port
from lighting.keys import provision
from simulator import LampNode, Simulator, build_fleet

TICK_S = 0.01


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _lag(worst: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        asked = loop.time()
        await asyncio.sleep(TICK_S)
        worst[0] = max(worst[0], loop.time() - asked - TICK_S)


async def _send(node: LampNode, count: int) -> None:
    for _ in range(count):
        await node.send_report()


async def _run(lamps: int, reports: int, database_url: str) -> dict[str, float | str]:
    port = free_udp_port()
    settings = load_settings(
        None,
        metrics={"enabled": False},  # no fixed port or socket: benches may run side by side
        control={"enabled": False},
        database_url=database_url,
        coap={
            "host": "127.0.0.1",
            "port": port,
            "ack_timeout_s": 2.0,
            "max_retransmit": 4,
            "security": "insecure",
        },
        contact={"missed_reports": 1000},
    )
    specs = build_fleet(
        lamps, zones=["centre"], base_address="127.61.0.1", port=port, report_period_s=3600
    )
    async with Controller(settings) as controller, Simulator(specs, controller.address) as sim:
        async with asyncio.timeout(600):
            await sim.wait_registered()
            # Each lamp reports once when it registers: let those land first.
            while controller.counters["reports.newest"] < lamps:  # noqa: ASYNC110 - no event to await
                await asyncio.sleep(0.05)
        before = controller.counters["reports.newest"]
        worst, stop = [0.0], asyncio.Event()
        lag = asyncio.create_task(_lag(worst, stop))
        cpu0, t0 = _cpu(), time.monotonic()
        async with asyncio.timeout(600):
            await asyncio.gather(*(_send(node, reports) for node in sim.nodes.values()))
        elapsed = time.monotonic() - t0
        cpu = _cpu() - cpu0
        stop.set()
        await lag
        stored = controller.counters["reports.newest"] - before
        batches = controller.counters.snapshot()
    return {
        "lamps": lamps,
        "reports": lamps * reports,
        "stored": stored,
        "database": database_url.split(":", 1)[0],
        "elapsed_s": round(elapsed, 2),
        "reports_per_s": round(stored / elapsed),
        "max_loop_lag_ms": round(worst[0] * 1000, 1),
        "cpu_s": round(cpu, 2),
        "refused": sum(v for k, v in batches.items() if k.startswith("coap.refused")),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


async def _run_generated(
    lamps: int, reports: int, database_url: str, stack: str, window: int, *, keys: Path | None
) -> dict[str, float | str]:
    """The controller alone in this process; the reports come from ``bench.loadgen``,
    protected with OSCORE when there are ``keys``."""
    port = free_udp_port()
    security = {"security": "oscore", "keys": str(keys)} if keys else {"security": "insecure"}
    settings = load_settings(
        None,
        metrics={"enabled": False},  # no fixed port or socket: benches may run side by side
        control={"enabled": False},
        database_url=database_url,
        coap={"stack": stack, "host": "127.0.0.1", "port": port, **security},
        contact={"missed_reports": 1000},
    )
    async with Controller(settings) as controller:
        worst, stop = [0.0], asyncio.Event()
        lag = asyncio.create_task(_lag(worst, stop))
        cpu0 = _cpu()
        process, results = loadgen.start(controller.address, lamps, reports, window, keys)
        try:
            async with asyncio.timeout(900):
                result = await asyncio.to_thread(results.get)
        finally:
            process.join(5)
        cpu = _cpu() - cpu0
        stop.set()
        await lag
        stored = controller.counters["reports.newest"]
        counters = controller.counters.snapshot()
    elapsed = float(result["elapsed_s"])
    return {
        "sender": "loadgen",
        "stack": stack,
        "security": "oscore" if keys else "insecure",
        "window": window,
        "lamps": lamps,
        "reports": lamps * reports,
        "stored": stored,
        "failed": result["failed"],
        "retransmissions": result["retransmissions"],
        "database": database_url.split(":", 1)[0],
        "elapsed_s": round(elapsed, 2),
        "reports_per_s": round(stored / elapsed) if elapsed else 0,
        "max_loop_lag_ms": round(worst[0] * 1000, 1),
        "cpu_s": round(cpu, 2),
        "generator_cpu_s": result["generator_cpu_s"],
        "refused": sum(v for k, v in counters.items() if k.startswith("coap.refused")),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


@contextlib.contextmanager
def _fresh(url: str) -> Iterator[str]:
    """``url``, empty: a PostgreSQL database gets a schema of this run's own, dropped
    afterwards (reports left by an earlier run would be counted as duplicates)."""
    if not url.startswith("postgresql"):
        yield url
        return
    import psycopg  # noqa: PLC0415 - only for PostgreSQL

    plain = "postgresql://" + url.split("://", 1)[1]
    schema = f"citylight_bench_{os.getpid()}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def measure(
    lamps: int = 1000,
    reports: int = 10,
    database_url: str | None = None,
    *,
    sender: str = "simulator",
    stack: str = "lean",
    window: int = 256,
    oscore: bool = False,
) -> dict[str, float | str]:
    """Ingest ``reports`` reports from each of ``lamps`` lamps into ``database_url`` (a fresh
    SQLite file when None), sent by the simulated fleet in this process (``simulator``) or
    by ``bench.loadgen`` in a process of its own (``loadgen``, ``window`` in flight)."""
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")
    with (
        tempfile.TemporaryDirectory() as workdir,
        _fresh(database_url or f"sqlite:///{Path(workdir) / 'ingest.db'}") as url,
    ):
        if sender == "loadgen":
            keys = None
            if oscore:
                keys = Path(workdir) / "keys"
                provision(keys, loadgen.lamp_ids(lamps))
            return asyncio.run(_run_generated(lamps, reports, url, stack, window, keys=keys))
        return asyncio.run(_run(lamps, reports, url))


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.ingest")
    parser.add_argument("--lamps", type=int, default=1000)
    parser.add_argument("--reports", type=int, default=10)
    parser.add_argument("--db", default=None)
    parser.add_argument("--sender", choices=["simulator", "loadgen"], default="loadgen")
    parser.add_argument("--stack", choices=["lean", "aiocoap"], default="lean")
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--oscore", action="store_true", help="every report protected")
    args = parser.parse_args()
    print(
        json.dumps(
            measure(
                args.lamps,
                args.reports,
                args.db,
                sender=args.sender,
                stack=args.stack,
                window=args.window,
                oscore=args.oscore,
            )
        )
    )
