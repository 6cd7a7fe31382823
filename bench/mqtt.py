"""MQTT: reports stored per second through the controller's MQTT ingest, and notices
published per second (broker-acknowledged), against a Mosquitto of the benchmark's own
(started as the tests start theirs, ``tests/mqtt_broker.py``) and SQLite.

``python -m bench.mqtt [--lamps N] [--reports M]``: N lamps' reports, M each, published with
QoS 1 and 100 in flight; the clock stops when the last is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from lighting.config import MqttConfig, load_settings
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


async def _publish(broker: Broker, messages: list[tuple[str, bytes]]) -> None:
    slots = asyncio.Semaphore(IN_FLIGHT)
    async with aiomqtt.Client(broker.host, broker.port, identifier="bench-lamps") as client:
        client.pending_calls_threshold = 10**9

        async def one(topic: str, payload: bytes) -> None:
            async with slots:
                await client.publish(topic, payload, qos=1)

        await asyncio.gather(*(one(topic, payload) for topic, payload in messages))


async def _ingest(broker: Broker, workdir: Path, lamps: int, reports: int) -> dict[str, float]:
    settings = load_settings(
        None,
        metrics={"enabled": False},  # no fixed port or socket: benches may run side by side
        control={"enabled": False},
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        coap={"host": "127.0.0.1", "port": free_udp_port(), "security": "insecure"},
    )
    config = MqttConfig(enabled=True, host=broker.host, port=broker.port, client_id="bench")
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
        topics = Topics()
        messages = [
            (
                topics.uplink("centre", f"L{index}", UplinkKind.REPORT),
                encode_report(
                    StateReport(
                        f"L{index}", seq, level=50, power_w=45.0, energy_wh=seq, burning_s=seq
                    )
                ),
            )
            for seq in range(2, reports + 2)
            for index in range(lamps)
        ]
        started = time.perf_counter()
        await _publish(broker, messages)
        published_s = time.perf_counter() - started
        await ingest.wait_handled(len(messages))
        stored_s = time.perf_counter() - started
        await ingest.drain()
        await runner
        stored = controller.counters["reports.newest"] + controller.counters["reports.late"]
    return {
        "reports": len(messages),
        "stored": stored,
        "published_s": round(published_s, 2),
        "stored_s": round(stored_s, 2),
        "reports_per_s": round(stored / stored_s),
    }


async def _publisher(broker: Broker, notices: int) -> dict[str, float]:
    counters = Counters()
    hub = EventHub(counters)
    config = MqttConfig(enabled=True, host=broker.host, port=broker.port, client_id="bench-pub")
    at = datetime(2026, 11, 24, tzinfo=UTC)
    async with MqttPublisher(config, hub, counters) as publisher:
        runner = asyncio.create_task(publisher.run())
        await publisher.connected.wait()
        started = time.perf_counter()
        for index in range(notices):
            hub.emit(
                FaultNotice(
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
            )
        await publisher.wait_published(notices)
        elapsed = time.perf_counter() - started
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    return {"notices": notices, "seconds": round(elapsed, 2), "per_s": round(notices / elapsed)}


def measure(lamps: int = 100, reports: int = 100) -> dict[str, dict[str, float]]:
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
            taken = asyncio.run(_ingest(broker, Path(workdir), lamps, reports))
            sent = asyncio.run(_publisher(broker, lamps * reports))
        finally:
            broker.stop()
    return {"ingest": taken, "publish": sent}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mqtt", description=__doc__)
    parser.add_argument("--lamps", type=int, default=100)
    parser.add_argument("--reports", type=int, default=100, help="per lamp")
    args = parser.parse_args()
    print(measure(args.lamps, args.reports))


if __name__ == "__main__":
    main()
