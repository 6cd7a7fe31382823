"""The record, read: lamps, the command log and changes."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

import typer

from lighting.cli.common import (
    ConfigOption,
    DbOption,
    FormatOption,
    app,
    err,
    get_format,
    get_settings,
    opened,
    reading,
    show,
)
from lighting.const import EXIT_USAGE
from lighting.views import (
    change_summary_dict,
    changes_table,
    command_dict,
    commands_table,
    fault_dict,
    faults_table,
    lamp_dict,
    lamps_table,
)
from simulator.cli import sim as sim_command

log = logging.getLogger(__name__)


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
    shown = get_format(fmt)
    if status not in ("open", "resolved", "all"):
        err.print(f"[red]unknown status {status!r}[/]: use open, resolved or all")
        raise typer.Exit(EXIT_USAGE)
    with reading(config, db) as (settings, repo):
        found = repo.faults(status=None if status == "all" else status, zone=zone, lamp_id=lamp)
    show(found, shown, fault_dict, faults_table(found, settings.site_value.tzinfo))


@app.command()
def lamps(
    config: ConfigOption = None,
    db: DbOption = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """List lamps with their level, power and status."""
    shown = get_format(fmt)
    with reading(config, db) as (settings, repo):
        found = repo.lamps(zone)
    show(found, shown, lamp_dict, lamps_table(found, settings.site_value.tzinfo))


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
    shown = get_format(fmt)
    settings = get_settings(config, db)
    tz = settings.site_value.tzinfo
    try:
        start = None if since is None else datetime.fromisoformat(since)
    except ValueError as error:
        err.print(f"[red]--since {since!r} is not an ISO time")
        raise typer.Exit(EXIT_USAGE) from error
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=tz)  # a local time of the site
    with opened(settings) as repo:
        found = repo.commands(lamp_id=lamp, zone=zone, since=start, change_id=change, limit=limit)
    show(found, shown, command_dict, commands_table(found, tz))


@app.command()
def changes(
    config: ConfigOption = None,
    db: DbOption = None,
    limit: Annotated[int, typer.Option(min=1, help="The last this many changes.")] = 20,
    fmt: FormatOption = "table",
) -> None:
    """Changes (plan steps, overrides) and how far each got: acknowledged, pending, failed."""
    shown = get_format(fmt)
    with reading(config, db) as (settings, repo):
        summaries = [
            summary
            for change in repo.changes(limit)
            if (summary := repo.change_summary(change.change_id)) is not None
        ]
    show(
        summaries, shown, change_summary_dict, changes_table(summaries, settings.site_value.tzinfo)
    )


app.command(name="sim")(sim_command)
