"""``lighting audit``: the trail of operator actions, who did what and when."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from lighting.cli.common import (
    ConfigOption,
    DbOption,
    FormatOption,
    app,
    get_format,
    parse_since,
    reading,
    show,
)
from lighting.const import EXIT_USAGE
from lighting.controller import utc_now
from lighting.storage import AuditRecord
from lighting.storage.audit import ACTIONS
from lighting.views import local_time


def audit_dict(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.entry_id,
        "at": record.at.isoformat(),
        "by": record.actor,
        "action": record.action,
        "target": record.target,
        "detail": record.detail,
    }


@app.command()
def audit(
    config: ConfigOption = None,
    db: DbOption = None,
    since: Annotated[
        str | None, typer.Option(help="Since: an ISO time (2026-11-24T18:00) or 12h, 3d.")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Only this person's actions.")] = None,
    action: Annotated[
        str | None,
        typer.Option(help="Only this action, or a family: override, fault, incident."),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help='Only on this: "fault 12", "zone centre", "lamp L00042".')
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 200,
    fmt: FormatOption = "table",
) -> None:
    """Operator actions (overrides, acknowledgements, resolutions, imports), newest first,
    with who did them and when, whether through the daemon or straight to the database.
    Exit 1 if there are none."""
    shown = get_format(fmt)
    if action is not None and not any(known.startswith(action) for known in ACTIONS):
        typer.echo(f"unknown action {action!r}: one of {', '.join(ACTIONS)}", err=True)
        raise typer.Exit(EXIT_USAGE)
    with reading(config, db) as (settings, repo):
        tz = settings.site_value.tzinfo
        start = parse_since(since, tz, utc_now())
        found = repo.audit(since=start, actor=by, action=action, target=target, limit=limit)
    table = Table("id", "when", "by", "action", "target", "detail")
    for record in found:
        table.add_row(
            str(record.entry_id),
            local_time(record.at, tz, "%Y-%m-%d %H:%M:%S"),
            record.actor,
            record.action,
            record.target,
            record.detail,
        )
    show(found, shown, audit_dict, table)
