"""``lighting``: the command line of citylight, for the daemon, the demo and the field crew.

Every command is a view: it reads the configuration and the database (or starts the daemon,
the simulator or the demo) and prints. Exit codes: 0 success (for ``faults``: faults found),
1 nothing found, 2 usage or configuration error, 3 the system refused a resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from lighting.config import Settings, load_settings
from lighting.controller import Controller, night_of, utc_now
from lighting.demo import run_demo
from lighting.errors import LightingError
from lighting.storage import Repository
from lighting.views import (
    fault_dict,
    faults_table,
    lamp_dict,
    lamps_table,
    plan_dict,
    plans_table,
    to_json,
)
from schedules import plan_night
from simulator import SimulatorError
from simulator.cli import sim as sim_command

log = logging.getLogger(__name__)

EXIT_NONE = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3

app = typer.Typer(
    name="lighting",
    help="citylight: street lighting over NB-IoT, from the plan to the lamp and back.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration (default: the packaged example)."),
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL; overrides the configuration's.")
]
Format = Literal["table", "json"]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table or json")]
LogLevel = Annotated[str, typer.Option("--log-level", help="debug, info, warning, error")]


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _settings(config: Path | None, db: str | None = None) -> Settings:
    try:
        return load_settings(config, **({"database_url": db} if db else {}))
    except LightingError as error:
        err.print(f"[red]configuration error:[/] {error}")
        raise typer.Exit(EXIT_USAGE) from error


def _format(value: str) -> Format:
    if value not in ("table", "json"):
        err.print(f"[red]unknown format {value!r}[/]: use table or json")
        raise typer.Exit(EXIT_USAGE)
    return "json" if value == "json" else "table"


def _repository(settings: Settings) -> Repository:
    try:
        return Repository.open(settings.database_url)
    except LightingError as error:
        err.print(f"[red]database error:[/] {error}")
        raise typer.Exit(EXIT_REFUSED) from error


def _no_reuse_port() -> None:
    # Two endpoints on one address must fail loudly, not share traffic (aiocoap reads this).
    os.environ.setdefault("AIOCOAP_REUSE_PORT", "0")


@app.command()
def run(config: ConfigOption = None, log_level: LogLevel = "info") -> None:
    """Run the controller daemon: plan each night, command the lamps, ingest their reports."""
    _logging(log_level)
    _no_reuse_port()
    settings = _settings(config)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with Controller(settings) as controller:
            await controller.serve(stop)
        log.info("controller stopped")

    try:
        asyncio.run(main())
    except LightingError as error:
        err.print(f"[red]{error}")
        raise typer.Exit(EXIT_REFUSED) from error


@app.command()
def demo(
    lamps: Annotated[int, typer.Option(min=1, max=5000, help="Number of simulated lamps.")] = 60,
    forever: Annotated[bool, typer.Option(help="Then run the real night until Ctrl-C.")] = False,
    data_dir: Annotated[Path, typer.Option(help="Where the demo database goes.")] = Path(
        ".citylight-demo"
    ),
    log_level: LogLevel = "error",
) -> None:
    """Simulate a city and run the controller against it, printing what happens."""
    _logging(log_level)
    _no_reuse_port()
    try:
        asyncio.run(run_demo(lamps=lamps, data_dir=data_dir, forever=forever, console=out))
    except KeyboardInterrupt:
        out.print("stopped")
    except (LightingError, SimulatorError) as error:
        err.print(f"[red]{error}")
        raise typer.Exit(EXIT_REFUSED) from error


@app.command()
def faults(
    config: ConfigOption = None,
    db: DbOption = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    lamp: Annotated[str | None, typer.Option(help="Only this lamp.")] = None,
    status: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    fmt: FormatOption = "table",
) -> None:
    """List faults (open ones by default), newest first. Exit 1 when there are none."""
    shown = _format(fmt)
    if status not in ("open", "resolved", "all"):
        err.print(f"[red]unknown status {status!r}[/]: use open, resolved or all")
        raise typer.Exit(EXIT_USAGE)
    settings = _settings(config, db)
    repo = _repository(settings)
    try:
        found = repo.faults(status=None if status == "all" else status, zone=zone, lamp_id=lamp)
    finally:
        repo.close()
    if shown == "json":
        typer.echo(to_json(fault_dict(f) for f in found))
    else:
        out.print(faults_table(found, settings.site_value.tzinfo))
    if not found:
        raise typer.Exit(EXIT_NONE)


@app.command()
def lamps(
    config: ConfigOption = None,
    db: DbOption = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """List lamps with their level, power and status."""
    shown = _format(fmt)
    settings = _settings(config, db)
    repo = _repository(settings)
    try:
        found = repo.lamps(zone)
    finally:
        repo.close()
    if shown == "json":
        typer.echo(to_json(lamp_dict(lamp) for lamp in found))
    else:
        out.print(lamps_table(found, settings.site_value.tzinfo))
    if not found:
        raise typer.Exit(EXIT_NONE)


@app.command()
def plan(
    config: ConfigOption = None,
    night: Annotated[
        str | None, typer.Option("--date", help="Night of this date (YYYY-MM-DD); default tonight.")
    ] = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Print a night's changes per zone, with the sun times they come from."""
    shown = _format(fmt)
    settings = _settings(config)
    try:
        day = date.fromisoformat(night) if night else night_of(utc_now(), settings)
    except ValueError as error:
        err.print(f"[red]--date {night!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(EXIT_USAGE) from error
    zones = [zone] if zone else list(settings.zones)
    unknown = [z for z in zones if z not in settings.zones]
    if unknown:
        err.print(f"[red]unknown zone {unknown[0]!r}[/]; zones: {', '.join(settings.zones)}")
        raise typer.Exit(EXIT_USAGE)
    plans = {z: plan_night(settings.site_value, settings.zone_program(z), day) for z in zones}
    if shown == "json":
        typer.echo(to_json(plan_dict(z, p) for z, p in plans.items()))
    else:
        out.print(plans_table(plans))


app.command(name="sim")(sim_command)


def main() -> None:
    """Entry point of the ``lighting`` console script."""
    with contextlib.suppress(BrokenPipeError):
        app()
