"""Fan-out: a city-wide change to N simulated lamps, from the change to every command
acknowledged and recorded in the database.

Two layouts (``--simulator``):

- ``inline`` (what ``python -m bench`` runs): controller and simulator in one process and one
  event loop; the lamps listen on the controller's port, each on a socket of its own. CPU and
  peak memory are those of both together.
- ``process``: the simulator in a process of its own (one shared socket for the fleet, on a
  port of its own), so that each side has a core and its own figures: ``cpu_s`` and
  ``peak_rss_mib`` are the controller's process, ``sim_cpu_s`` the simulator's CPU seconds
  over the same fan-out, ``sim_peak_rss_mib`` its high-water mark.

Every row also says how many lamps hold the new level (``at_level``), counted by the
simulator after the change: the commands did reach the lamps.

``python -m bench.fanout 1000 10000 --simulator process --repeat 3`` prints a table: each
run with the UDP round-trip limit (``bench.udp_limit``) measured just before it, and the
ratio of the two (``vs_raw``). Before the change, the bench waits until every lamp's first
report is stored, so that the fan-out is not measured with the fleet's start-up burst.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

from bench import udp_limit
from lighting.config import Settings, load_settings
from lighting.controller import Controller
from lighting.demo import free_udp_port
from lighting.keys import KeyStore, keys_or_plain, provision
from lighting.storage.records import ChangeRecord
from simulator import LampSpec, Simulator, build_fleet

LEVEL = 80
ZONE = "centre"
REGISTER_TIMEOUT_S = 600.0
SIM_BASE = "127.60.0.1"
Layout = Literal["inline", "process"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _settings(
    workdir: Path, port: int, per_cell: int, concurrency: int, keys: Path | None = None
) -> Settings:
    """Plain CoAP, or OSCORE with the keys in ``keys`` (provisioned by ``_keys``)."""
    security = {"security": "oscore", "keys": str(keys)} if keys else {"security": "insecure"}
    return load_settings(
        None,
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        coap={
            "host": "127.0.0.1",
            "port": port,
            "ack_timeout_s": 2.0,
            "max_retransmit": 4,
            **security,
        },
        delivery={"per_cell": per_cell, "concurrency": concurrency, "jitter_s": 0.0},
        contact={"missed_reports": 1000},
        control={"enabled": False},  # not needed here; one daemon per directory otherwise
        metrics={"enabled": False},  # no fixed port: benches may run side by side
    )


async def _figures(
    controller: Controller, change: ChangeRecord, lamps: int, elapsed: float
) -> dict[str, Any]:
    commands = await controller.store.call(
        controller.repository.commands, change_id=change.change_id, limit=lamps
    )
    latencies = sorted(c.latency_ms for c in commands if c.latency_ms is not None)
    return {
        "fanout_s": round(elapsed, 3),
        "commands_per_s": round(change.acknowledged / elapsed),
        "acknowledged": change.acknowledged,
        "recorded": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else -1,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1) if latencies else -1,
    }


async def _quiet(controller: Controller, lamps: int) -> None:
    """Wait until every lamp's first report (sent when it registers) is stored: the
    fan-out is measured on its own, not with the fleet's start-up burst. Then settle the
    collector, as the daemon does every ``[memory] settle_interval_s``: the fleet registered
    after the controller started, and a city's fan-out at dusk comes long after that."""
    async with asyncio.timeout(REGISTER_TIMEOUT_S):
        while controller.counters["coap.accepted.report"] < lamps:  # noqa: ASYNC110 - a counter
            await asyncio.sleep(0.05)
    controller.memory.settle()


def _keys(workdir: Path, lamps: int, oscore: bool) -> Path | None:
    """A key per lamp of the bench's fleet (its ids do not depend on the port)."""
    if not oscore:
        return None
    specs = build_fleet(lamps, zones=[ZONE], base_address=SIM_BASE, report_period_s=3600)
    provision(workdir / "keys", [spec.lamp_id for spec in specs])
    return workdir / "keys"


async def _inline(
    lamps: int, per_cell: int, concurrency: int, workdir: Path, keys: Path | None
) -> dict[str, Any]:
    port = free_udp_port()
    settings = _settings(workdir, port, per_cell, concurrency, keys)
    specs = build_fleet(lamps, zones=[ZONE], base_address=SIM_BASE, port=port, report_period_s=3600)
    async with Controller(settings) as controller:
        started = time.monotonic()
        with keys_or_plain(keys, "lamps") as lamp_keys:
            return await _inline_run(controller, specs, lamp_keys, started)


async def _inline_run(
    controller: Controller, specs: list[LampSpec], lamp_keys: KeyStore | None, started: float
) -> dict[str, Any]:
    lamps = len(specs)
    async with Simulator(specs, controller.address, keys=lamp_keys) as sim:
        async with asyncio.timeout(REGISTER_TIMEOUT_S):
            await sim.wait_registered()
        registered_s = time.monotonic() - started
        await _quiet(controller, lamps)
        cpu0, t0 = _cpu(), time.monotonic()
        change = await controller.apply_level(ZONE, LEVEL, "bench", datetime.now(UTC))
        elapsed = time.monotonic() - t0
        cpu = _cpu() - cpu0
        at_level = sum(1 for level in sim.levels().values() if level == LEVEL)
        figures = await _figures(controller, change, lamps, elapsed)
    return {
        "lamps": lamps,
        "simulator": "inline",
        "registered_s": round(registered_s, 2),
        **figures,
        "at_level": at_level,
        "cpu_s": round(cpu, 2),
        "peak_rss_mib": _peak_rss_mib(),
    }


def _simulator_main(
    lamps: int, controller: tuple[str, int], pipe: Connection, keys: Path | None
) -> None:
    """The fleet in a process of its own: register, then mark the CPU at ``start`` and
    ``stop`` (from the pipe) and report what it spent between, and its lamps' levels."""

    async def run(lamp_keys: KeyStore | None) -> dict[str, Any]:
        specs = build_fleet(
            lamps, zones=[ZONE], base_address=SIM_BASE, port=free_udp_port(), report_period_s=3600
        )
        started = time.monotonic()
        async with Simulator(
            specs, controller, endpoint="shared", freeze_gc=True, keys=lamp_keys
        ) as sim:
            async with asyncio.timeout(REGISTER_TIMEOUT_S):
                await sim.wait_registered()
            pipe.send({"registered_s": round(time.monotonic() - started, 2)})
            await asyncio.to_thread(pipe.recv)
            cpu0 = _cpu()
            await asyncio.to_thread(pipe.recv)
            cpu = _cpu() - cpu0
            at_level = sum(1 for level in sim.levels().values() if level == LEVEL)
        return {
            "at_level": at_level,
            "sim_cpu_s": round(cpu, 2),
            "sim_peak_rss_mib": _peak_rss_mib(),
        }

    with keys_or_plain(keys, "lamps") as lamp_keys:
        pipe.send(asyncio.run(run(lamp_keys)))


async def _receive(pipe: Connection, timeout_s: float) -> Any:
    if not await asyncio.to_thread(pipe.poll, timeout_s):
        raise TimeoutError(f"the simulator's process said nothing for {timeout_s} s")
    return pipe.recv()


async def _separate(
    lamps: int, per_cell: int, concurrency: int, workdir: Path, keys: Path | None
) -> dict[str, Any]:
    settings = _settings(workdir, free_udp_port(), per_cell, concurrency, keys)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    async with Controller(settings) as controller:
        process = context.Process(
            target=_simulator_main, args=(lamps, controller.address, theirs, keys), daemon=True
        )
        process.start()
        try:
            registered = await _receive(ours, REGISTER_TIMEOUT_S)
            await _quiet(controller, lamps)
            ours.send("start")
            cpu0, t0 = _cpu(), time.monotonic()
            change = await controller.apply_level(ZONE, LEVEL, "bench", datetime.now(UTC))
            elapsed = time.monotonic() - t0
            cpu = _cpu() - cpu0
            ours.send("stop")
            simulated = await _receive(ours, 60)
            figures = await _figures(controller, change, lamps, elapsed)
        finally:
            await asyncio.to_thread(process.join, 30)
            if process.is_alive():
                process.terminate()
    return {
        "lamps": lamps,
        "simulator": "process",
        **registered,
        **figures,
        "at_level": simulated["at_level"],
        "cpu_s": round(cpu, 2),
        "peak_rss_mib": _peak_rss_mib(),
        "sim_cpu_s": simulated["sim_cpu_s"],
        "sim_peak_rss_mib": simulated["sim_peak_rss_mib"],
    }


def measure(
    lamps: int,
    per_cell: int = 40,
    concurrency: int = 1024,
    *,
    simulator: Layout = "inline",
    oscore: bool = False,
) -> dict[str, Any]:
    """One fan-out to ``lamps`` lamps (measure one size per process for memory figures),
    over plain CoAP or, with ``oscore``, every command and answer protected."""
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")
    run = _inline if simulator == "inline" else _separate
    with tempfile.TemporaryDirectory() as workdir:
        keys = _keys(Path(workdir), lamps, oscore)
        row = asyncio.run(run(lamps, per_cell, concurrency, Path(workdir), keys))
    return {"security": "oscore" if oscore else "insecure", **row}


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("lamps", type=int, nargs="+", help="fleet sizes")
    parser.add_argument("--simulator", choices=["inline", "process"], default="process")
    parser.add_argument("--per-cell", type=int, default=40, help="in flight per cell")
    parser.add_argument("--concurrency", type=int, default=1024, help="in flight city-wide")
    parser.add_argument("--oscore", action="store_true", help="protect every command (OSCORE)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per size, each paired with the UDP limit"
    )
    args = parser.parse_args()
    header: list[str] | None = None
    for lamps in args.lamps:
        for _ in range(args.repeat):
            # The machine's limit just before each run: on a shared machine it moves.
            limit = udp_limit.measure()["round_trips_per_s"]
            # Each run in a process of its own, so that peak memory does not carry over.
            call = (
                "import json; from bench.fanout import measure; print(json.dumps(measure("
                f"{lamps}, {args.per_cell}, {args.concurrency}, simulator={args.simulator!r}, "
                f"oscore={args.oscore})))"
            )
            done = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-c", call], check=True, capture_output=True, text=True
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["udp_limit"] = limit
            row["vs_raw"] = round(row["commands_per_s"] / limit, 3) if limit else 0
            if header is None:
                header = list(row)
                print(" | ".join(header))
            print(" | ".join(str(row[key]) for key in header), flush=True)


if __name__ == "__main__":
    main()
