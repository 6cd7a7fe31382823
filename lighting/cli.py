"""``lighting``: the command line of citylight, for the daemon, the demo and the field crew.

Every command is a view: it reads the configuration and the database (or starts the daemon,
the simulator or the demo) and prints. Exit codes: 0 success (for ``faults``: faults found),
1 nothing found (for ``validate``: the calendars have errors), 2 usage or configuration
error, 3 the system refused a resource.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from lighting.config import Settings, load_settings
from lighting.const import EXIT_NONE, EXIT_REFUSED, EXIT_USAGE
from lighting.controller import Controller, night_of, utc_now
from lighting.demo import run_demo
from lighting.errors import LightingError
from lighting.storage import Repository
from lighting.views import (
    change_summary_dict,
    changes_table,
    command_dict,
    commands_table,
    explain_table,
    fault_dict,
    faults_table,
    lamp_dict,
    lamps_table,
    plan_dict,
    plans_csv,
    plans_table,
    report_dict,
    report_table,
    to_json,
    year_table,
)
from schedules import NightPlan, ScheduleError, plan_night
from simulator import SimulatorError
from simulator.cli import sim as sim_command

log = logging.getLogger(__name__)
_R = TypeVar("_R")

EXIT_INVALID = 1  # lighting validate: the calendars have errors

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
        settings = load_settings(config)
    except LightingError as error:
        err.print(f"[red]configuration error:[/] {error}")
        raise typer.Exit(EXIT_USAGE) from error
    # An option on the command line beats the file and the environment.
    return settings.model_copy(update={"database_url": db}) if db else settings


def _format(value: str) -> Format:
    if value not in ("table", "json"):
        err.print(f"[red]unknown format {value!r}[/]: use table or json")
        raise typer.Exit(EXIT_USAGE)
    return "json" if value == "json" else "table"


@contextlib.contextmanager
def _opened(settings: Settings) -> Iterator[Repository]:
    """The existing database of ``settings``, closed afterwards; exit 3 if it cannot be."""
    try:
        repo = Repository.open_existing(settings.database_url)
    except LightingError as error:
        err.print(f"[red]database error:[/] {error}")
        raise typer.Exit(EXIT_REFUSED) from error
    try:
        yield repo
    finally:
        repo.close()


@contextlib.contextmanager
def _reading(config: Path | None, db: str | None) -> Iterator[tuple[Settings, Repository]]:
    """Settings and their database, for a command that reads the record."""
    settings = _settings(config, db)
    with _opened(settings) as repo:
        yield settings, repo


def _show(
    found: Sequence[_R], shown: Format, as_dict: Callable[[_R], Mapping[str, Any]], table: Table
) -> None:
    """Print records as JSON or as a table; exit 1 when there are none (documented)."""
    if shown == "json":
        typer.echo(to_json(as_dict(record) for record in found))
    else:
        out.print(table)
    if not found:
        raise typer.Exit(EXIT_NONE)


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
    with _reading(config, db) as (settings, repo):
        found = repo.faults(status=None if status == "all" else status, zone=zone, lamp_id=lamp)
    _show(found, shown, fault_dict, faults_table(found, settings.site_value.tzinfo))


@app.command()
def lamps(
    config: ConfigOption = None,
    db: DbOption = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """List lamps with their level, power and status."""
    shown = _format(fmt)
    with _reading(config, db) as (settings, repo):
        found = repo.lamps(zone)
    _show(found, shown, lamp_dict, lamps_table(found, settings.site_value.tzinfo))


@app.command()
def plan(
    config: ConfigOption = None,
    night: Annotated[
        str | None, typer.Option("--date", help="Night of this date (YYYY-MM-DD); default tonight.")
    ] = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    lamp: Annotated[
        str | None, typer.Option(help="Plan one lamp of --zone (with its own overrides).")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Why each change happens; what each step became.")
    ] = False,
    year: Annotated[
        bool, typer.Option("--year", help="Every night of the year of --date (default: this year).")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv")] = "table",
) -> None:
    """Print a night's changes per zone, with the sun times, rules and overrides behind them."""
    if fmt not in ("table", "json", "csv"):
        err.print(f"[red]unknown format {fmt!r}[/]: use table, json or csv")
        raise typer.Exit(EXIT_USAGE)
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
    if lamp and not zone:
        err.print("[red]--lamp needs --zone[/]: the zone of the lamp, whose calendar it runs")
        raise typer.Exit(EXIT_USAGE)
    first = date(day.year, 1, 1) if year else day
    nights = [first + timedelta(days=n) for n in range((date(first.year + 1, 1, 1) - first).days)]
    plans = _plans(settings, zones, nights if year else [day], lamp)
    if fmt == "csv":
        typer.echo(plans_csv((z, p) for z, found in plans.items() for p in found), nl=False)
    elif fmt == "json":
        typer.echo(
            to_json(plan_dict(z, p, explain=explain) for z, found in plans.items() for p in found)
        )
    elif year:
        for z, found in plans.items():
            out.print(year_table(z, found))
    elif explain:
        for z, found in plans.items():
            out.print(explain_table(z, found[0]))
    else:
        out.print(plans_table({z: found[0] for z, found in plans.items()}))


def _plans(
    settings: Settings, zones: list[str], nights: list[date], lamp: str | None
) -> dict[str, list[NightPlan]]:
    site, overrides = settings.site_value, settings.override_values
    try:
        return {
            z: [
                plan_night(site, settings.zone_calendar(z), overrides, n, zone=z, lamp=lamp)
                for n in nights
            ]
            for z in zones
        }
    except ScheduleError as error:
        err.print(f"[red]cannot plan:[/] {error}")
        raise typer.Exit(EXIT_USAGE) from error


@app.command(name="validate")
def validate_config(
    config: Annotated[Path, typer.Argument(help="The TOML configuration to check.")],
    year: Annotated[
        int | None,
        typer.Option(min=1900, max=2200, help="Check this year (default: 365 nights from now)."),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Also check calendars that no zone runs.")
    ] = False,
    fmt: FormatOption = "table",
) -> None:
    """Plan every night of a year with each calendar and report what is wrong, with dates.

    Exit 0: no error (warnings are printed); 1: a calendar has errors, the daemon would
    refuse it; 2: the file cannot be loaded."""
    shown = _format(fmt)
    settings = _settings(config)
    first = date(year, 1, 1) if year else night_of(utc_now(), settings)
    nights = (date(year + 1, 1, 1) - first).days if year else 365
    reports = settings.calendar_reports(first, nights, used_only=not every)
    if shown == "json":
        typer.echo(to_json(report_dict(key, report) for key, report in reports.items()))
    else:
        for key, report in reports.items():
            out.print(report_table(key, report))
    errors = sum(len(report.errors) for report in reports.values())
    warnings = sum(len(report.warnings) for report in reports.values())
    summary = f"{config}: {errors} errors, {warnings} warnings in {len(reports)} calendars"
    if errors:
        err.print(f"[red]{summary}: the daemon would refuse this configuration")
        raise typer.Exit(EXIT_INVALID)
    err.print(f"[green]{summary}")


@app.command()
def commands(
    config: ConfigOption = None,
    db: DbOption = None,
    lamp: Annotated[str | None, typer.Option(help="Only this lamp.")] = None,
    zone: Annotated[str | None, typer.Option(help="Only lamps of this zone.")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only commands created since (ISO time, e.g. 2026-11-24T18:00+08:00)."),
    ] = None,
    change: Annotated[int | None, typer.Option(help="Only this change.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 200,
    fmt: FormatOption = "table",
) -> None:
    """The command log: every command, its attempts, outcome and latency. Exit 1 if none."""
    shown = _format(fmt)
    settings = _settings(config, db)
    tz = settings.site_value.tzinfo
    try:
        start = None if since is None else datetime.fromisoformat(since)
    except ValueError as error:
        err.print(f"[red]--since {since!r} is not an ISO time")
        raise typer.Exit(EXIT_USAGE) from error
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=tz)  # a local time of the site
    with _opened(settings) as repo:
        found = repo.commands(lamp_id=lamp, zone=zone, since=start, change_id=change, limit=limit)
    _show(found, shown, command_dict, commands_table(found, tz))


@app.command()
def changes(
    config: ConfigOption = None,
    db: DbOption = None,
    limit: Annotated[int, typer.Option(min=1, help="The last this many changes.")] = 20,
    fmt: FormatOption = "table",
) -> None:
    """Changes (plan steps, overrides) and how far each got: acknowledged, pending, failed."""
    shown = _format(fmt)
    with _reading(config, db) as (settings, repo):
        summaries = [
            summary
            for change in repo.changes(limit)
            if (summary := repo.change_summary(change.change_id)) is not None
        ]
    _show(
        summaries, shown, change_summary_dict, changes_table(summaries, settings.site_value.tzinfo)
    )


app.command(name="sim")(sim_command)


def main() -> None:
    """Entry point of the ``lighting`` console script."""
    with contextlib.suppress(BrokenPipeError):
        app()
