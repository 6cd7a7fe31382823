"""``lighting plan`` and ``validate``: the nights the calendars give, and their checks."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

import typer

from lighting.cli.common import (
    ConfigOption,
    FormatOption,
    app,
    err,
    get_format,
    get_settings,
    out,
)
from lighting.config import Settings
from lighting.const import EXIT_USAGE
from lighting.controller import night_of, utc_now
from lighting.views import (
    explain_table,
    plan_dict,
    plans_csv,
    plans_table,
    report_dict,
    report_table,
    to_json,
    year_table,
)
from schedules import NightPlan, ScheduleError, plan_night

log = logging.getLogger(__name__)


EXIT_INVALID = 1  # lighting validate: the calendars have errors


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
    settings = get_settings(config)
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
    shown = get_format(fmt)
    settings = get_settings(config)
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
