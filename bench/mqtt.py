"""MQTT: reports stored per second through the controller's MQTT ingest, and notices
published per second (broker-acknowledged), against a Mosquitto of the benchmark's own
(started as the tests start theirs, ``tests/mqtt_broker.py``) and SQLite.

``python -m bench.mqtt [--lamps N] [--reports M] [--stack lean|aiomqtt]``: N lamps' reports,
M each, through the ingest's client of ``--stack`` (``[mqtt] ingest_stack``), published with
QoS 1 and 100 in flight by a platform in a process of its own (so that the controller's
figures are its own, not shared with a publisher on the same core); the clock runs from
the platform's first publish to the last report stored. The notices are emitted at most a
publish buffer at a time, as the controller's hub would hold them.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, get_args

from bench.mqtt_platform import publish
from lighting.config import IngestStack, MqttConfig, load_settings
from lighting.controller import Controller
from lighting.controller.events import EventHub
from lighting.demo import free_udp_port
from lighting.metrics import Counters
from lighting.model import FaultKind, Registration, StateReport
from lighting.notices import FaultNotice
from lighting.protocol import Topics, UplinkKind, encode_report
from lighting.transports import MqttIngest, MqttPublisher
from tests.mqtt_broker import Broker, mosquitto_binary

IN_FLIGHT = 100
WAIT_S = 600
"""The bound of every wait of the benchmark."""


def _cpu() -> float:
    """CPU seconds of this process (the controller's), user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _messages(lamps: int, reports: int) -> list[tuple[str, bytes]]:
    topics = Topics()
    return [
        (
            topics.uplink("centre", f"L{index}", UplinkKind.REPORT),
            encode_report(
                StateReport(f"L{index}", seq, level=50, power_w=45.0, energy_wh=seq, burning_s=seq)
            ),
        )
        for seq in range(2, reports + 2)
        for index in range(lamps)
    ]


def _platform_main(host: str, port: int, lamps: int, reports: int, pipe: Connection) -> None:
    """The platform in a process of its own: build the messages, say so, publish them when
    told to, and say when the broker has acknowledged the last."""
    messages = _messages(lamps, reports)
    pipe.send("ready")
    if pipe.poll(WAIT_S):
        pipe.recv()
        started = time.perf_counter()
        asyncio.run(publish(host, port, messages, window=IN_FLIGHT, timeout_s=WAIT_S))
        pipe.send(round(time.perf_counter() - started, 2))


async def _receive(pipe: Connection) -> Any:
    if not await asyncio.to_thread(pipe.poll, WAIT_S):
        raise TimeoutError(f"the platform's process said nothing for {WAIT_S} s")
    return pipe.recv()


async def _stored_or_platform_died(
    ingest: MqttIngest, count: int, platform: multiprocessing.process.BaseProcess
) -> None:
    """Wait until ``count`` reports are handled; ``SystemExit`` at once if the platform's
    process dies first (it exits with 0 once the broker has acknowledged its last)."""
    handled = asyncio.create_task(ingest.wait_handled(count))
    try:
        async with asyncio.timeout(WAIT_S):
            ended = asyncio.create_task(asyncio.to_thread(platform.join, WAIT_S))
            await asyncio.wait({handled, ended}, return_when=asyncio.FIRST_COMPLETED)
            if not handled.done() and platform.exitcode not in (None, 0):
                raise SystemExit(
                    f"the platform's process died (exit code {platform.exitcode}) after "
                    f"{ingest.handled} of {count} reports were handled"
                )
            await handled
    finally:
        handled.cancel()


async def _ingest(
    broker: Broker, workdir: Path, lamps: int, reports: int, stack: IngestStack
) -> dict[str, float]:
    settings = load_settings(
        None,
        metrics={"enabled": False},  # no fixed port or socket: benches may run side by side
        control={"enabled": False},
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        coap={"host": "127.0.0.1", "port": free_udp_port(), "security": "insecure"},
    )
    config = MqttConfig(
        enabled=True,
        host=broker.host,
        port=broker.port,
        client_id="bench",
        ingest_stack=stack,
    )
    async with Controller(settings) as controller:
        assert controller.ingest is not None
        for index in range(lamps):
            registration = Registration(
                lamp_id=f"L{index}",
                seq=1,
                zone="centre",
                latitude=36.7,
                longitude=119.1,
                wattage=90,
            )
            await controller.ingest.on_registration(registration, "127.0.0.1", 9)
        ingest = MqttIngest(config, controller.ingest, controller.counters)
        runner = asyncio.create_task(ingest.run())
        await ingest.connected.wait()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        platform = context.Process(
            target=_platform_main,
            args=(broker.host, broker.port, lamps, reports, theirs),
            daemon=True,
        )
        platform.start()
        try:
            await _receive(ours)  # its messages are built
            ours.send("go")
            started, cpu0 = time.perf_counter(), _cpu()
            await _stored_or_platform_died(ingest, lamps * reports, platform)
            stored_s, cpu_s = time.perf_counter() - started, _cpu() - cpu0
            published_s = await _receive(ours)
        finally:
            await asyncio.to_thread(platform.join, 30)
            if platform.is_alive():
                platform.terminate()
        await ingest.drain()
        await runner
        stored = controller.counters["reports.newest"] + controller.counters["reports.late"]
    return {
        "reports": lamps * reports,
        "stored": stored,
        "published_s": round(published_s, 2),
        "stored_s": round(stored_s, 2),
        "reports_per_s": round(stored / stored_s),
        "cpu_s": round(cpu_s, 2),
    }


def _notice(index: int, at: datetime) -> FaultNotice:
    return FaultNotice(
        "opened",
        index,
        "L1",
        "centre",
        FaultKind.LAMP_FAILURE,
        "lamp",
        "open",
        at,
        at,
        1,
        36.7,
        119.1,
    )


async def _publisher(broker: Broker, notices: int) -> dict[str, float]:
    counters = Counters()
    hub = EventHub(counters)
    config = MqttConfig(enabled=True, host=broker.host, port=broker.port, client_id="bench-pub")
    at = datetime(2026, 11, 24, tzinfo=UTC)
    async with MqttPublisher(config, hub, counters) as publisher:
        runner = asyncio.create_task(publisher.run())
        await publisher.connected.wait()
        started = time.perf_counter()
        emitted = 0
        while emitted < notices:  # no more than the hub keeps for the publisher at once
            for index in range(emitted, min(notices, emitted + config.publish_buffer)):
                hub.emit(_notice(index, at))
            emitted = min(notices, emitted + config.publish_buffer)
            async with asyncio.timeout(WAIT_S):
                await publisher.wait_published(emitted)
        elapsed = time.perf_counter() - started
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    return {"notices": notices, "seconds": round(elapsed, 2), "per_s": round(notices / elapsed)}


def measure(
    lamps: int = 100, reports: int = 100, stack: IngestStack = "lean"
) -> dict[str, dict[str, float]]:
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")
    with tempfile.TemporaryDirectory() as workdir:
        broker_dir = Path(workdir) / "mosquitto"
        broker_dir.mkdir()
        binary = mosquitto_binary()
        if binary is None:
            raise SystemExit("the MQTT benchmark needs mosquitto on the PATH")
        broker = Broker(binary, broker_dir)
        broker.start()
        try:
            taken = asyncio.run(_ingest(broker, Path(workdir), lamps, reports, stack))
            sent = asyncio.run(_publisher(broker, lamps * reports))
        finally:
            broker.stop()
    return {"ingest": taken, "publish": sent}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mqtt", description=__doc__)
    parser.add_argument("--lamps", type=int, default=100)
    parser.add_argument("--reports", type=int, default=100, help="per lamp")
    parser.add_argument(
        "--stack",
        choices=get_args(IngestStack),
        default="lean",
        help="the ingest's MQTT client ([mqtt] ingest_stack)",
    )
    args = parser.parse_args()
    stack: IngestStack = "aiomqtt" if args.stack == "aiomqtt" else "lean"
    print(measure(args.lamps, args.reports, stack))


if __name__ == "__main__":
    main()
