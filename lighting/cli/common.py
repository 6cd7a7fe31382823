"""What every ``lighting`` command shares: the typer app, its options, settings and database
opening, and printing with documented exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from lighting import logs
from lighting.client import ControlClient, NoDaemonError, RefusedError
from lighting.config import Settings, load_settings
from lighting.const import EXIT_NONE, EXIT_REFUSED, EXIT_USAGE
from lighting.errors import LightingError
from lighting.logs import FORMATS
from lighting.storage import Repository
from lighting.views import to_json
from schedules import ScheduleError, parse_duration

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
LogFormatOption = Annotated[
    str, typer.Option("--log-format", help="text, or json: one JSON object per line")
]


def setup_logging(level: str, log_format: str = "text") -> None:
    """Logging for a command; a format other than text or json is a usage error."""
    if log_format not in FORMATS:
        err.print(f"[red]unknown log format {log_format!r}[/]: use text or json")
        raise typer.Exit(EXIT_USAGE)
    logs.setup_logging(level, "json" if log_format == "json" else "text")


def get_settings(config: Path | None, db: str | None = None) -> Settings:
    try:
        settings = load_settings(config)
    except LightingError as error:
        err.print(f"[red]configuration error:[/] {error}")
        raise typer.Exit(EXIT_USAGE) from error
    # An option on the command line beats the file and the environment.
    return settings.model_copy(update={"database_url": db}) if db else settings


def get_format(value: str) -> Format:
    if value not in ("table", "json"):
        err.print(f"[red]unknown format {value!r}[/]: use table or json")
        raise typer.Exit(EXIT_USAGE)
    return "json" if value == "json" else "table"


@contextlib.contextmanager
def opened(settings: Settings) -> Iterator[Repository]:
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
def reading(config: Path | None, db: str | None) -> Iterator[tuple[Settings, Repository]]:
    """Settings and their database, for a command that reads the record."""
    settings = get_settings(config, db)
    with opened(settings) as repo:
        yield settings, repo


def show(
    found: Sequence[_R], shown: Format, as_dict: Callable[[_R], Mapping[str, Any]], table: Table
) -> None:
    """Print records as JSON or as a table; exit 1 when there are none (documented)."""
    if shown == "json":
        typer.echo(to_json(as_dict(record) for record in found))
    else:
        out.print(table)
    if not found:
        raise typer.Exit(EXIT_NONE)


def ask_daemon(settings: Settings, ask: Callable[[ControlClient], Awaitable[_R]]) -> _R:
    """Run ``ask`` against the running daemon over its control channel; ``NoDaemonError``
    when none answers, exit 1 with the daemon's reason when it refuses."""
    if not settings.control.enabled:
        raise NoDaemonError("the control channel is disabled ([control] enabled = false)")

    async def session() -> _R:
        async with ControlClient(settings.control.socket) as client:
            return await ask(client)

    try:
        return asyncio.run(session())
    except RefusedError as error:
        err.print(f"[red]the daemon refused:[/] {error}")
        raise typer.Exit(EXIT_NONE) from error


def parse_since(text: str | None, tz: tzinfo, now: datetime) -> datetime | None:
    """``--since``: an ISO time (read in the site's zone when it has no offset) or a time
    back from now (``90min``, ``12h``, ``3d``); exit 2 with the reason otherwise."""
    if text is None:
        return None
    try:
        if text.endswith("d") and text[:-1].isdigit():
            return now - timedelta(days=int(text[:-1]))
        return now - parse_duration(text)
    except ScheduleError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        err.print(f"[red]--since {text!r}[/] is neither an ISO time nor a duration like 12h or 3d")
        raise typer.Exit(EXIT_USAGE) from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
