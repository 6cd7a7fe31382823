"""``lighting sim`` (also ``python -m simulator``): run a simulated fleet until interrupted."""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import signal
import sys
from typing import Annotated

import typer
from rich.console import Console

from lighting.const import EXIT_REFUSED, EXIT_USAGE
from lighting.errors import ProtocolError
from lighting.model import FaultKind
from simulator.errors import FleetError, SimulatorError
from simulator.fleet import DEFAULT_ZONES, build_fleet
from simulator.mqtt import MqttOptions
from simulator.runner import Simulator


class Uplink(enum.StrEnum):
    """How the lamps' reports and fault events reach the controller."""

    COAP = "coap"
    MQTT = "mqtt"


def _known(fleet: Simulator, lamp_id: str) -> str:
    if lamp_id not in fleet.nodes:
        raise FleetError(f"no lamp {lamp_id!r} in this fleet (ids run L00001 to L{len(fleet):05d})")
    return lamp_id


def sim(
    lamps: Annotated[int, typer.Option(min=1, help="Number of lamps.")] = 50,
    controller: Annotated[str, typer.Option(help="Controller HOST:PORT.")] = "127.0.0.1:5683",
    base_address: Annotated[str, typer.Option(help="First lamp address (127.x.y.z).")] = (
        "127.1.0.1"
    ),
    port: Annotated[int, typer.Option(help="CoAP port every lamp listens on.")] = 5683,
    zones: Annotated[str, typer.Option(help="Comma-separated zone names.")] = ",".join(
        DEFAULT_ZONES
    ),
    seed: Annotated[int, typer.Option(help="Same seed, same fleet.")] = 7,
    report_period: Annotated[int, typer.Option(min=1, help="Seconds between reports.")] = 60,
    lamp_failure: Annotated[
        list[str] | None, typer.Option(help="Lamp whose LED fails after start (repeatable).")
    ] = None,
    silent: Annotated[
        list[str] | None, typer.Option(help="Lamp that stops answering after start (repeatable).")
    ] = None,
    latency: Annotated[float, typer.Option(min=0, help="One-way latency of every cell, s.")] = 0.0,
    loss: Annotated[float, typer.Option(min=0, max=1, help="Datagram loss of every cell.")] = 0.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    uplink: Annotated[
        Uplink, typer.Option(help="Reports and fault events over CoAP, or over an MQTT broker.")
    ] = Uplink.COAP,
    mqtt: Annotated[str, typer.Option(help="MQTT broker HOST:PORT (with --uplink mqtt).")] = (
        "127.0.0.1:1883"
    ),
    mqtt_root: Annotated[str, typer.Option(help="MQTT topic root.")] = "citylight",
) -> None:
    """Run a simulated fleet of lamps, each a CoAP endpoint on its own loopback address."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Two endpoints on one address must fail loudly, not share traffic (aiocoap reads this).
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")
    out, err = Console(), Console(stderr=True)
    host, _, ctl_port = controller.rpartition(":")
    if not host or not ctl_port.isdigit():
        err.print(f"[red]--controller {controller!r} must be HOST:PORT")
        raise typer.Exit(EXIT_USAGE)
    options = None
    if uplink is Uplink.MQTT:
        broker_host, _, broker_port = mqtt.rpartition(":")
        if not broker_host or not broker_port.isdigit():
            err.print(f"[red]--mqtt {mqtt!r} must be HOST:PORT")
            raise typer.Exit(EXIT_USAGE)
        try:
            options = MqttOptions(broker_host, int(broker_port), root=mqtt_root)
        except ProtocolError as error:
            err.print(f"[red]--mqtt-root {mqtt_root!r}: {error}")
            raise typer.Exit(EXIT_USAGE) from error

    async def main() -> None:
        specs = build_fleet(
            lamps,
            seed=seed,
            zones=[z.strip() for z in zones.split(",") if z.strip()],
            base_address=base_address,
            port=port,
            report_period_s=report_period,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with Simulator(specs, (host, int(ctl_port)), seed=seed, mqtt=options) as fleet:
            for cell in fleet.cells.values():
                cell.latency_s, cell.loss = latency, loss
            out.print(f"{len(specs)} lamps from {base_address} port {port}; Ctrl-C to stop")
            if options is not None:
                out.print(f"reports and faults over MQTT to {mqtt} ({mqtt_root}/up/...)")
            for lamp_id in lamp_failure or []:
                fleet.inject(_known(fleet, lamp_id), FaultKind.LAMP_FAILURE)
                out.print(f"lamp {lamp_id}: lamp failure")
            for lamp_id in silent or []:
                await fleet.silence(_known(fleet, lamp_id))
                out.print(f"lamp {lamp_id}: silent")
            await stop.wait()

    try:
        asyncio.run(main())
    except SimulatorError as error:
        err.print(f"[red]{error}")
        raise typer.Exit(EXIT_REFUSED) from error


def main() -> None:
    typer.run(sim)
