"""``lighting override``: hold a zone or a lamp at a level for a while, list, cancel.

Setting and cancelling go through the running daemon (its control channel), which puts the
override in force at once, records it with who ordered it and ends it by itself; without a
daemon there is nobody to carry it out, so they exit 3. ``override list`` reads the record.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Annotated, Any

import typer
from rich.table import Table

from lighting.cli.common import (
    ConfigOption,
    DbOption,
    FormatOption,
    app,
    ask_daemon,
    err,
    get_format,
    get_settings,
    out,
    reading,
    show,
)
from lighting.client import NoDaemonError
from lighting.const import EXIT_REFUSED, EXIT_USAGE
from lighting.controller import utc_now
from lighting.overview import OverrideView
from lighting.storage import OverrideRecord
from lighting.views import local_time
from schedules import ScheduleError, parse_duration

overrides_app = typer.Typer(help="Operators' overrides: set, list, cancel.", no_args_is_help=True)
app.add_typer(overrides_app, name="override")

ByOption = Annotated[str, typer.Option("--by", help="Who orders it (name or id).")]


def _unavailable(error: NoDaemonError) -> typer.Exit:
    err.print(f"[red]{error}[/]: an override needs the running daemon to carry it out")
    return typer.Exit(EXIT_REFUSED)


def _shown(view: OverrideView, tz: tzinfo) -> str:
    what = f"zone {view.zone}" if view.zone is not None else f"lamp {view.lamp_id}"
    until = local_time(view.end, tz, "%Y-%m-%d %H:%M")
    return f"override {view.override_id}: {what} at {view.level} % until {until}, by {view.by}"


@overrides_app.command("set")
def set_override(
    level: Annotated[int, typer.Option(min=0, max=100, help="The level, 0 to 100 %.")],
    duration: Annotated[str, typer.Option("--for", help="How long: 30min, 2h, 1h30m.")],
    by: ByOption,
    zone: Annotated[str | None, typer.Option(help="The zone to hold.")] = None,
    lamp: Annotated[str | None, typer.Option(help="The lamp to hold.")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept with the override).")] = "",
    config: ConfigOption = None,
) -> None:
    """Hold a zone (or a lamp) at a level from now on, for a while. Exit 3 without a daemon."""
    if (zone is None) == (lamp is None):
        err.print("[red]give --zone or --lamp[/] (one of them)")
        raise typer.Exit(EXIT_USAGE)
    try:
        minutes = parse_duration(duration).total_seconds() / 60
    except ScheduleError as error:
        err.print(f"[red]--for {duration!r}:[/] {error}")
        raise typer.Exit(EXIT_USAGE) from error
    settings = get_settings(config)
    try:
        view = ask_daemon(
            settings,
            lambda client: client.override(
                level=level, minutes=minutes, by=by, zone=zone, lamp=lamp, reason=reason
            ),
        )
    except NoDaemonError as error:
        raise _unavailable(error) from error
    out.print(_shown(view, settings.site_value.tzinfo))


@overrides_app.command("cancel")
def cancel_override(
    override_id: Annotated[int, typer.Argument(help="The override's id.")],
    by: ByOption,
    config: ConfigOption = None,
) -> None:
    """End an override now: the plan is in force again. Exit 3 without a daemon."""
    settings = get_settings(config)
    try:
        view = ask_daemon(settings, lambda client: client.cancel(override_id, by))
    except NoDaemonError as error:
        raise _unavailable(error) from error
    out.print(f"override {view.override_id} cancelled by {by}")


def _override_dict(record: OverrideRecord) -> dict[str, Any]:
    return {
        "id": record.override_id,
        "zone": record.zone,
        "lamp": record.lamp_id,
        "level": record.level,
        "start": record.start.isoformat(),
        "end": record.end.isoformat(),
        "by": record.by,
        "reason": record.reason,
    }


@overrides_app.command("list")
def list_overrides(
    config: ConfigOption = None,
    db: DbOption = None,
    fmt: FormatOption = "table",
) -> None:
    """Overrides in force or to come. Exit 1 if there are none."""
    shown = get_format(fmt)
    with reading(config, db) as (settings, repo):
        found = repo.overrides(ending_after=utc_now())
    tz = settings.site_value.tzinfo
    table = Table("id", "zone / lamp", "level", "from", "until", "by", "reason")
    for record in found:
        table.add_row(
            str(record.override_id),
            record.zone or f"lamp {record.lamp_id}",
            f"{record.level} %",
            local_time(record.start, tz),
            local_time(record.end, tz),
            record.by,
            record.reason,
        )
    show(found, shown, _override_dict, table)
