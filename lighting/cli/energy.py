"""``lighting energy``: energy per night and zone (or lamp), and the saving against the same
lamps at full power from dusk to dawn.

It reads the hourly roll-ups, after rolling up the reports the daemon has not counted yet
(the command works without a running daemon). Nights are local dates of the site: the
night of 24 November runs from noon on the 24th to noon on the 25th.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import date, datetime, timedelta
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from lighting.cli.common import ConfigOption, DbOption, app, err, get_settings, opened, out
from lighting.const import EXIT_NONE, EXIT_USAGE
from lighting.controller import night_of, utc_now
from lighting.energy import EnergyLine, energy_report, line_dict, total
from lighting.errors import LightingError
from lighting.storage import Repository
from lighting.views import to_json

log = logging.getLogger(__name__)

DEFAULT_NIGHTS = 7
MAX_NIGHTS = 3660
FORMATS = ("table", "json", "csv")


def _night(value: str | None, option: str, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        err.print(f"[red]{option} {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(EXIT_USAGE) from error


def _catch_up(repo: Repository, now: datetime) -> int:
    """Roll up the reports not counted yet; how many. A database that refuses the writes
    (read-only, locked) still shows what is rolled up already."""
    counted = 0
    try:
        repo.ensure_energy_tables()
        while True:
            result = repo.rollup(now)
            counted += result.reports
            if result.done:
                return counted
    except LightingError as error:
        err.print(f"[yellow]could not roll up the latest reports:[/] {error}")
        return counted


@app.command()
def energy(
    config: ConfigOption = None,
    db: DbOption = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    lamp: Annotated[str | None, typer.Option(help="Only this lamp: a line per night.")] = None,
    per_lamp: Annotated[
        bool, typer.Option("--per-lamp", help="A line per lamp and night, not per zone.")
    ] = False,
    first: Annotated[
        str | None,
        typer.Option("--from", help="First night (YYYY-MM-DD); default: 6 nights before --to."),
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last night (YYYY-MM-DD); default: tonight.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv")] = "table",
) -> None:
    """Energy per night and zone (or lamp), against the same lamps at full power from
    sunset to sunrise: the saving in kWh and percent. Exit 1 when nothing is recorded."""
    if fmt not in FORMATS:
        err.print(f"[red]unknown format {fmt!r}[/]: use table, json or csv")
        raise typer.Exit(EXIT_USAGE)
    settings = get_settings(config, db)
    site, now = settings.site_value, utc_now()
    to_night = _night(last, "--to", night_of(now, settings))
    from_night = _night(first, "--from", to_night - timedelta(days=DEFAULT_NIGHTS - 1))
    nights = (to_night - from_night).days + 1
    if not 1 <= nights <= MAX_NIGHTS:
        err.print(f"[red]--from must be at most {MAX_NIGHTS} nights before --to, not after it")
        raise typer.Exit(EXIT_USAGE)
    with opened(settings) as repo:
        counted = _catch_up(repo, now)
        log.debug("rolled up %d reports", counted)
        records = repo.energy_by_night(
            from_night,
            to_night,
            site.tzinfo,
            zone=zone,
            lamp_id=lamp,
            per_lamp=per_lamp or lamp is not None,
        )
    lines = energy_report(site, records, until=now)
    if fmt == "json":
        typer.echo(to_json(line_dict(line) for line in lines))
    elif fmt == "csv":
        typer.echo(energy_csv(lines), nl=False)
    else:
        what = f"lamp {lamp}" if lamp else f"zone {zone}" if zone else "every zone"
        out.print(energy_table(lines, f"{what}, nights of {from_night} to {to_night}"))
    if not lines:
        err.print(f"no energy recorded for {lamp or zone or 'any lamp'} in those nights")
        raise typer.Exit(EXIT_NONE)


def energy_csv(lines: list[EnergyLine]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = list(line_dict(lines[0])) if lines else ["night", "zone", "lamp", "energy_kwh"]
    writer.writerow(columns)
    for line in lines:
        row = line_dict(line)
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return buffer.getvalue()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def energy_table(lines: list[EnergyLine], what: str) -> Table:
    """Fits 80 columns: the saving in kWh, the burning hours and more are in JSON and CSV."""
    by_lamp = any(line.lamp_id is not None for line in lines)
    notes = ["full: the same lamps at full power from sunset to sunrise"]
    if any(line.partial for line in lines):
        notes.append("* night in progress: so far")
    table = Table(
        title=f"Energy of {what}",
        title_justify="left",
        caption="; ".join(notes),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    columns = ["night", "zone", *(["lamp"] if by_lamp else ["lamps"]), "kWh", "full kWh"]
    for column in [*columns, "saved %", "dark h", "level %"]:
        left = column in {"night", "zone", "lamp"}
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    for line in lines:
        table.add_row(
            f"{line.night}{' *' if line.partial else ''}",
            line.zone,
            line.lamp_id or "" if by_lamp else str(line.lamps),
            f"{line.energy_kwh:.3f}",
            f"{line.baseline_kwh:.3f}",
            _pct(line.saving_pct),
            f"{line.dark_h:.2f}",
            _pct(line.mean_level),
        )
    if len(lines) > 1:
        summed = total(lines)
        table.add_section()
        table.add_row(
            f"{summed.nights} night{'' if summed.nights == 1 else 's'}",
            *([""] * (len(columns) - 3)),
            f"{summed.energy_kwh:.3f}",
            f"{summed.baseline_kwh:.3f}",
            _pct(summed.saving_pct),
        )
    return table
