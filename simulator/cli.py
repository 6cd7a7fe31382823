"""``lighting sim`` (also ``python -m simulator``): run a simulated city until interrupted.

::

    lighting sim                                  the packaged default city (1,000 lamps)
    lighting sim --lamps 10000 --seed 7           the same city scaled to 10,000 lamps
    lighting sim --profile city.toml              a city of your own
    lighting sim inventory DIR                    write the city as inventory.csv and .geojson
    lighting sim fault --lamp L00042 --kind lamp-failure      while a city runs
    lighting sim fault --cabinet north-c02 --kind supply-loss --clear
    lighting sim status
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lighting.const import EXIT_REFUSED, EXIT_USAGE
from lighting.errors import ConfigError, ProtocolError
from lighting.keys import KeyStore, keys_or_plain
from lighting.model import FaultKind
from lighting.protocol.inventory import write_csv, write_geojson
from simulator.city import City, build_city
from simulator.control import DEFAULT_SOCKET, ControlError, ControlServer, request
from simulator.errors import FleetError, SimulatorError
from simulator.faults import SimFault
from simulator.mqtt import MqttOptions
from simulator.profile import FaultsTable, Profile, default_profile, load_profile
from simulator.runner import Simulator

sim_app = typer.Typer(
    name="sim",
    help="Run a simulated city of NB-IoT lamps, each a CoAP endpoint on its own loopback address.",
    add_completion=False,
)
out, err = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)


class Uplink(enum.StrEnum):
    """How the lamps' reports and fault events reach the controller."""

    COAP = "coap"
    MQTT = "mqtt"


class EndpointChoice(enum.StrEnum):
    """How the lamps' sockets are laid out (see ``simulator.endpoint``)."""

    AUTO = "auto"
    SHARED = "shared"
    PER_LAMP = "per-lamp"


ProfileOption = Annotated[
    Path | None, typer.Option(help="City profile (TOML); default: the packaged city.")
]
LampsOption = Annotated[
    int | None, typer.Option(min=1, help="Scale the profile's counts to this many lamps.")
]
SeedOption = Annotated[
    int | None, typer.Option(help="Same seed, same city (default: the profile's).")
]
ControlOption = Annotated[Path, typer.Option("--control", help="The simulator's control socket.")]


def _profile(path: Path | None) -> Profile:
    return default_profile() if path is None else load_profile(path)


def _city(
    profile_path: Path | None,
    lamps: int | None,
    seed: int | None,
    overrides: dict[str, Any] | None = None,
    *,
    faults: bool = True,
) -> City:
    """The city to run (without the profile's faults unless ``faults``), or exit 2 with
    the profile's error."""
    try:
        profile = _profile(profile_path)
        if overrides:
            profile = profile.model_copy(update={"city": profile.city.model_copy(update=overrides)})
        if not faults:
            profile = profile.model_copy(update={"faults": FaultsTable()})
        return build_city(profile, seed=seed, lamps=lamps)
    except FleetError as error:
        err.print(f"[red]{escape(str(error))}")
        if lamps is not None and "faults.schedule" in str(error):
            err.print("the profile's fault schedule names it: --no-faults runs the city without")
        raise typer.Exit(EXIT_USAGE) from error


def write_inventory(city: City, directory: Path) -> tuple[Path, Path]:
    """Write ``inventory.csv`` and ``inventory.geojson`` of ``city`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    lamps = city.inventory()
    csv_path, geojson_path = directory / "inventory.csv", directory / "inventory.geojson"
    csv_path.write_text(write_csv(lamps), "utf-8")
    geojson_path.write_text(write_geojson(lamps), "utf-8")
    return csv_path, geojson_path


def _host_port(value: str, option: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        err.print(f"[red]{option} {value!r} must be HOST:PORT")
        raise typer.Exit(EXIT_USAGE)
    return host, int(port)


class _Run:
    """One run of a city until interrupted."""

    def __init__(
        self,
        city: City,
        controller: tuple[str, int],
        options: MqttOptions | None,
        endpoint: EndpointChoice,
        faults: bool,
        control: Path,
    ) -> None:
        self.city, self.controller, self.options = city, controller, options
        self.endpoint, self.faults, self.control = endpoint, faults, control
        self.latency: float | None = None
        self.loss: float | None = None
        self.lamp_failure: list[str] = []
        self.silent: list[str] = []
        self.keys: Path | None = None

    async def serve(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        with keys_or_plain(self.keys, "lamps") as keys:
            await self._serve(stop, keys)

    async def _serve(self, stop: asyncio.Event, keys: KeyStore | None) -> None:
        city = self.city
        if keys is None:
            err.print(
                "[yellow]lamps speak plain CoAP (no --keys): for a controller with "
                '[coap] security = "insecure" only'
            )
        fleet = Simulator.for_city(
            city,
            self.controller,
            mqtt=self.options,
            endpoint=self.endpoint.value,
            run_faults=self.faults,
            freeze_gc=True,  # the process is the fleet's: see simulator.runner
            keys=keys,
        )
        for lamp_id in [*self.lamp_failure, *self.silent]:
            fleet.targets(lamp=lamp_id)  # refuses a lamp the city does not have
        async with fleet, ControlServer(fleet, self.control):
            for cell in fleet.cells.values():
                if self.latency is not None:
                    cell.latency_s = self.latency
                if self.loss is not None:
                    cell.loss = self.loss
            first = city.specs[0]
            out.print(
                f"{city.name}: {len(city.specs)} lamps from {first.address} port {first.port} "
                f"({fleet.mode} sockets), seed {city.seed}; control: {self.control}; "
                "Ctrl-C to stop"
            )
            if self.options is not None:
                where = f"{self.options.host}:{self.options.port}"
                out.print(f"reports and faults over MQTT to {where} ({self.options.root}/up/...)")
            for lamp_id in self.lamp_failure:
                fleet.inject(lamp_id, FaultKind.LAMP_FAILURE)
                out.print(f"lamp {lamp_id}: lamp failure")
            for lamp_id in self.silent:
                await fleet.silence(lamp_id)
                out.print(f"lamp {lamp_id}: silent")
            await stop.wait()


@sim_app.callback(invoke_without_command=True)
def sim(
    ctx: typer.Context,
    profile: ProfileOption = None,
    lamps: LampsOption = None,
    seed: SeedOption = None,
    controller: Annotated[str, typer.Option(help="Controller HOST:PORT.")] = "127.0.0.1:5683",
    base_address: Annotated[
        str | None, typer.Option(help="First lamp address (127.x.y.z); default: the profile's.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="CoAP port every lamp listens on; default: the profile's.")
    ] = None,
    report_period: Annotated[
        int | None, typer.Option(min=1, help="Seconds between reports; default: the profile's.")
    ] = None,
    lamp_failure: Annotated[
        list[str] | None, typer.Option(help="Lamp whose LED fails after start (repeatable).")
    ] = None,
    silent: Annotated[
        list[str] | None, typer.Option(help="Lamp that stops answering after start (repeatable).")
    ] = None,
    latency: Annotated[
        float | None, typer.Option(min=0, help="One-way latency of every cell, s (else by class).")
    ] = None,
    loss: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="Datagram loss of every cell (else by class)."),
    ] = None,
    faults: Annotated[
        bool, typer.Option(help="Run the profile's faults (rates at start, schedule).")
    ] = True,
    endpoint: Annotated[
        EndpointChoice,
        typer.Option(help="One socket for all lamps (shared), one each, or auto."),
    ] = EndpointChoice.AUTO,
    control: ControlOption = Path(DEFAULT_SOCKET),
    write_inventory_to: Annotated[
        Path | None,
        typer.Option("--write-inventory", help="Also write the city's inventory into this folder."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
    uplink: Annotated[
        Uplink, typer.Option(help="Reports and fault events over CoAP, or over an MQTT broker.")
    ] = Uplink.COAP,
    mqtt: Annotated[str, typer.Option(help="MQTT broker HOST:PORT (with --uplink mqtt).")] = (
        "127.0.0.1:1883"
    ),
    mqtt_root: Annotated[str, typer.Option(help="MQTT topic root.")] = "citylight",
    keys: Annotated[
        Path | None,
        typer.Option(help="Key directory of `lighting keys provision`: OSCORE (else plain CoAP)."),
    ] = None,
) -> None:
    """Run a simulated city of lamps, each a CoAP endpoint on its own loopback address."""
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Two endpoints on one address must fail loudly, not share traffic (aiocoap reads this).
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")
    host, ctl_port = _host_port(controller, "--controller")
    options = None
    if uplink is Uplink.MQTT:
        broker_host, broker_port = _host_port(mqtt, "--mqtt")
        try:
            options = MqttOptions(broker_host, broker_port, root=mqtt_root)
        except ProtocolError as error:
            err.print(f"[red]--mqtt-root {mqtt_root!r}: {error}")
            raise typer.Exit(EXIT_USAGE) from error
    given = {"base_address": base_address, "port": port, "report_period_s": report_period}
    given = {k: v for k, v in given.items() if v is not None}
    city = _city(profile, lamps, seed, given, faults=faults)
    if write_inventory_to is not None:
        for path in write_inventory(city, write_inventory_to):
            out.print(f"inventory: {path}")

    run = _Run(city, (host, ctl_port), options, endpoint, faults, control)
    run.latency, run.loss = latency, loss
    run.lamp_failure, run.silent = lamp_failure or [], silent or []
    run.keys = keys
    try:
        asyncio.run(run.serve())
    except ConfigError as error:
        err.print(f"[red]{escape(str(error))}")
        raise typer.Exit(EXIT_USAGE) from error
    except FleetError as error:
        err.print(f"[red]{escape(str(error))}")
        raise typer.Exit(EXIT_USAGE) from error
    except SimulatorError as error:
        err.print(f"[red]{escape(str(error))}")
        raise typer.Exit(EXIT_REFUSED) from error


@sim_app.command()
def inventory(
    directory: Annotated[Path, typer.Argument(help="Folder for inventory.csv and .geojson.")],
    profile: ProfileOption = None,
    lamps: LampsOption = None,
    seed: SeedOption = None,
) -> None:
    """Write the city's lamps as an inventory (CSV and GeoJSON) for ``lighting import``."""
    city = _city(profile, lamps, seed, faults=False)  # the same lamps, faults or not
    for path in write_inventory(city, directory):
        out.print(f"{path}: {len(city.specs)} lamps")


def _ask(control: Path, message: dict[str, Any]) -> dict[str, Any]:
    try:
        answer = asyncio.run(request(control, message))
    except ControlError as error:
        err.print(f"[red]{escape(str(error))}[/]: is `lighting sim` running (this --control)?")
        raise typer.Exit(EXIT_REFUSED) from error
    if not answer.get("ok"):
        err.print(f"[red]the simulator refused:[/] {escape(str(answer.get('error')))}")
        raise typer.Exit(EXIT_USAGE)
    return answer


@sim_app.command()
def fault(
    kind: Annotated[SimFault, typer.Option(help="The fault to raise (or clear).")],
    lamp: Annotated[str | None, typer.Option(help="On this lamp.")] = None,
    cabinet: Annotated[str | None, typer.Option(help="On every lamp of this cabinet.")] = None,
    cell: Annotated[
        str | None, typer.Option(help="On this cell (cell-silent), or its lamps.")
    ] = None,
    zone: Annotated[str | None, typer.Option(help="On every lamp of this zone.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Clear the fault instead.")] = False,
    control: ControlOption = Path(DEFAULT_SOCKET),
) -> None:
    """Inject a fault into the running simulator (through its control socket)."""
    given = {
        k: v for k, v in {"lamp": lamp, "cabinet": cabinet, "cell": cell, "zone": zone}.items() if v
    }
    if len(given) != 1:
        err.print("[red]name exactly one of --lamp, --cabinet, --cell or --zone")
        raise typer.Exit(EXIT_USAGE)
    answer = _ask(control, {"op": "fault", "kind": kind.value, "active": not clear, **given})
    target = ", ".join(f"{k} {v}" for k, v in given.items())
    what = "cleared" if clear else "raised"
    out.print(f"{kind.value} {what} on {target}: {answer['lamps']} lamps")


@sim_app.command()
def status(
    lamp: Annotated[str | None, typer.Option(help="One lamp's state.")] = None,
    control: ControlOption = Path(DEFAULT_SOCKET),
) -> None:
    """The running simulator at a glance (JSON), or one lamp's state."""
    message: dict[str, Any] = {"op": "lamp", "lamp": lamp} if lamp else {"op": "status"}
    answer = _ask(control, message)
    answer.pop("ok", None)
    typer.echo(json.dumps(answer, indent=1))


def main() -> None:
    sim_app()
