"""The record, read: lamps, the command log and changes."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from lighting.cli.common import (
    ConfigOption,
    DbOption,
    FormatOption,
    app,
    get_format,
    get_settings,
    opened,
    parse_since,
    reading,
    show,
)
from lighting.controller import utc_now
from lighting.views import (
    change_summary_dict,
    changes_table,
    command_dict,
    commands_table,
    lamp_dict,
    lamps_table,
)
from simulator.cli import sim_app

log = logging.getLogger(__name__)


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
        typer.Option(
            help="Only commands created since: an ISO time (2026-11-24T18:00) or 12h, 3d."
        ),
    ] = None,
    change: Annotated[int | None, typer.Option(help="Only this change.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 200,
    fmt: FormatOption = "table",
) -> None:
    """The command log: every command, its attempts, outcome and latency. Exit 1 if none."""
    shown = get_format(fmt)
    settings = get_settings(config, db)
    tz = settings.site_value.tzinfo
    start = parse_since(since, tz, utc_now())
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


app.add_typer(sim_app, name="sim")
