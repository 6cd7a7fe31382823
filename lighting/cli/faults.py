"""The field crew's commands: find what is broken (near them), read its story, close it.

``lighting faults`` lists faults with filters and formats for people (table), programs
(json, csv) and map apps (geojson); ``faults show|ack|resolve ID`` work on one fault;
``lighting incidents`` does the same for incidents (many lamps of one cell at once);
``lighting lamp ID`` tells a lamp's story. Exit codes: 0 found or done, 1 nothing found
(or nothing to do: no such fault, already resolved), 2 usage.

Acknowledging and resolving go through the running daemon (its control channel), which
records them with the name given in ``--by`` and announces them on MQTT and to every
dashboard; with no daemon running they are written to the shared record directly (and the
daemon finds them there when it starts).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import tzinfo
from typing import Annotated

import typer

from lighting.cli.common import (
    ConfigOption,
    DbOption,
    app,
    ask_daemon,
    err,
    get_settings,
    opened,
    out,
    parse_since,
    reading,
)
from lighting.client import NoDaemonError
from lighting.const import ACTIVE, EXIT_NONE, EXIT_USAGE, FAULT_STATUSES
from lighting.controller import utc_now
from lighting.errors import StorageError
from lighting.faultviews import (
    LampStory,
    fault_dict,
    faults_csv,
    faults_geojson,
    faults_table,
    incident_dict,
    incidents_table,
    story,
    story_dict,
)
from lighting.geo import distance_m, parse_distance, parse_point
from lighting.model import FaultKind, Severity
from lighting.storage import FaultRecord, Repository
from lighting.views import to_json

log = logging.getLogger(__name__)

FORMATS = ("table", "json", "csv", "geojson")
STATUSES = (*FAULT_STATUSES, "active", "all")

faults_app = typer.Typer(
    help="Faults: list (with filters), show, acknowledge, resolve.",
    no_args_is_help=False,
    invoke_without_command=True,
)
incidents_app = typer.Typer(
    help="Incidents (many lamps of one cell at once): list, show, acknowledge, resolve.",
    invoke_without_command=True,
)
app.add_typer(faults_app, name="faults")
app.add_typer(incidents_app, name="incidents")

ByOption = Annotated[str, typer.Option("--by", help="Who does it (name or crew id).")]
FormatChoice = Annotated[str, typer.Option("--format", "-f", help=" | ".join(FORMATS))]


def _usage(message: str) -> typer.Exit:
    err.print(f"[red]{message}")
    return typer.Exit(EXIT_USAGE)


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise _usage(f"unknown {what} {value!r}: use {', '.join(allowed)}")
    return value


def _statuses(status: str) -> tuple[str, ...] | None:
    _choice(status, STATUSES, "status")
    if status == "all":
        return None
    return ACTIVE if status == "active" else (status,)


def _kinds(kinds: list[str] | None, severities: list[str] | None) -> list[FaultKind] | None:
    """The fault kinds that ``--kind`` and ``--severity`` allow (None: any)."""
    chosen: set[FaultKind] | None = None
    if kinds:
        try:
            chosen = {FaultKind.from_slug(s) for k in kinds for s in k.split(",") if s}
        except ValueError as error:
            known = ", ".join(kind.slug for kind in FaultKind)
            raise _usage(f"{error}; known kinds: {known}") from error
    if severities:
        wanted = {s for item in severities for s in item.split(",") if s}
        known_severities = {str(severity) for severity in Severity}
        if not wanted <= known_severities:
            bad = ", ".join(sorted(wanted - known_severities))
            raise _usage(f"unknown severity {bad}: use {', '.join(sorted(known_severities))}")
        by_severity = {kind for kind in FaultKind if str(kind.severity) in wanted}
        chosen = by_severity if chosen is None else chosen & by_severity
    return None if chosen is None else sorted(chosen)


def _near(
    found: list[FaultRecord], near: str | None, within: str | None
) -> tuple[list[FaultRecord], dict[int, float] | None]:
    """Keep the faults within ``within`` of ``near``, nearest first, with their distances."""
    if near is None:
        if within is not None:
            raise _usage("--within needs --near LAT,LON")
        return found, None
    try:
        lat, lon = parse_point(near)
        radius = parse_distance(within or "2km")
    except ValueError as error:
        raise _usage(str(error)) from error
    away = {f.fault_id: distance_m(lat, lon, f.latitude, f.longitude) for f in found}
    close = sorted((f for f in found if away[f.fault_id] <= radius), key=lambda f: away[f.fault_id])
    return close, {f.fault_id: away[f.fault_id] for f in close}


@faults_app.callback()
def faults(
    ctx: typer.Context,
    config: ConfigOption = None,
    db: DbOption = None,
    zone: Annotated[str | None, typer.Option(help="Only this zone.")] = None,
    lamp: Annotated[str | None, typer.Option(help="Only this lamp.")] = None,
    kind: Annotated[
        list[str] | None, typer.Option(help="Only these kinds: lamp-failure,day-burner,...")
    ] = None,
    severity: Annotated[
        list[str] | None, typer.Option(help="Only these severities: critical,major,minor,warning")
    ] = None,
    status: Annotated[
        str, typer.Option(help="open, acknowledged, resolved, active (open or acknowledged), all")
    ] = "active",
    since: Annotated[
        str | None, typer.Option(help="Seen since: an ISO time (2026-11-24T18:00) or 12h, 3d.")
    ] = None,
    near: Annotated[
        str | None, typer.Option(help="LAT,LON: only faults near here, nearest first.")
    ] = None,
    within: Annotated[
        str | None, typer.Option(help="With --near: how far (2km, 500m; default 2km).")
    ] = None,
    grouped: Annotated[
        bool, typer.Option(help="Also list the faults that belong to an incident.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 1000,
    fmt: FormatChoice = "table",
) -> None:
    """List faults (active ones by default), newest first or nearest first. Exit 1 if none.

    Faults that belong to an incident (a whole cell at once) are listed as the incident;
    --grouped (or --lamp) lists them one by one."""
    if ctx.invoked_subcommand is not None:
        return
    shown = _choice(fmt, FORMATS, "format")
    statuses = _statuses(status)
    kinds = _kinds(kind, severity)
    with reading(config, db) as (settings, repo):
        tz = settings.site_value.tzinfo
        start = parse_since(since, tz, utc_now())
        found = repo.faults(
            status=statuses,
            zone=zone,
            lamp_id=lamp,
            kinds=kinds,
            since=start,
            grouped=grouped or lamp is not None,
            limit=None if near is not None else limit,
        )
        incidents = (
            []
            if lamp is not None or grouped
            else repo.incidents(status=statuses, kinds=kinds, zone=zone, since=start)
        )
    found, distances = _near(found, near, within)
    if near is not None:
        incidents = []  # an incident is a cell, not a place; near lists the lamps
    if shown == "json":
        away = distances or {}
        typer.echo(to_json(fault_dict(f, away.get(f.fault_id)) for f in found))
    elif shown == "csv":
        typer.echo(faults_csv(found, distances), nl=False)
    elif shown == "geojson":
        typer.echo(faults_geojson(found, incidents, distances))
    else:
        out.print(faults_table(found, tz, distances))
        if incidents:
            out.print(incidents_table(incidents, tz))
    if not found and not incidents:
        raise typer.Exit(EXIT_NONE)


def _fault_story(repo: Repository, fault: FaultRecord, reports: int) -> LampStory:
    lamp = repo.lamp(fault.lamp_id)
    if lamp is None:
        raise StorageError(f"fault {fault.fault_id} names lamp {fault.lamp_id}, not on record")
    return LampStory(
        lamp=lamp,
        faults=repo.faults(status=None, lamp_id=fault.lamp_id, limit=20),
        reports=repo.reports(fault.lamp_id, until=fault.resolved_at, limit=reports),
        commands=repo.commands(lamp_id=fault.lamp_id, limit=10),
        fault=fault,
        incident=None if fault.incident_id is None else repo.incident(fault.incident_id),
    )


ReportsOption = Annotated[int, typer.Option(min=0, help="How many of its last reports.")]
JsonFormat = Annotated[str, typer.Option("--format", "-f", help="table or json")]


@faults_app.command("show")
def show_fault(
    fault_id: Annotated[int, typer.Argument(help="The fault's id.")],
    config: ConfigOption = None,
    db: DbOption = None,
    reports: ReportsOption = 10,
    fmt: JsonFormat = "table",
) -> None:
    """A fault's whole story: the fault, its lamp now, its reports, the lamp's commands."""
    shown = _choice(fmt, ("table", "json"), "format")
    with reading(config, db) as (settings, repo):
        try:
            told = _fault_story(repo, repo.fault(fault_id), reports)
        except StorageError as error:
            err.print(f"[red]{error}")
            raise typer.Exit(EXIT_NONE) from error
    _tell(told, shown, settings.site_value.tzinfo)


def _tell(told: LampStory, shown: str, tz: tzinfo) -> None:
    if shown == "json":
        typer.echo(json.dumps(story_dict(told), indent=2, ensure_ascii=False))
    else:
        out.print(story(told, tz))


@faults_app.command("ack")
def acknowledge_fault(
    fault_id: Annotated[int, typer.Argument(help="The fault's id.")],
    by: ByOption,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Acknowledge a fault: someone has it in hand. Exit 1 if there is no such active fault."""
    settings = get_settings(config, db)
    try:
        ask_daemon(settings, lambda client: client.acknowledge(fault_id, by))
    except NoDaemonError as unavailable:
        log.info("%s: writing the record directly", unavailable)
    else:
        out.print(f"fault {fault_id} acknowledged by {by}")
        return
    with opened(settings) as repo:
        try:
            fault = repo.acknowledge_fault(fault_id, by, utc_now())
        except StorageError as error:
            err.print(f"[red]{error}")
            raise typer.Exit(EXIT_NONE) from error
    out.print(
        f"fault {fault.fault_id} ({fault.kind.slug}, lamp {fault.lamp_id}) acknowledged by {by}"
        " (no daemon running: recorded directly)"
    )


@faults_app.command("resolve")
def resolve_fault(
    fault_id: Annotated[int, typer.Argument(help="The fault's id.")],
    by: ByOption,
    note: Annotated[str, typer.Option(help="What was done (kept with the fault).")] = "",
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Resolve a fault by hand, with a note. Exit 1 if there is no such active fault."""
    settings = get_settings(config, db)
    try:
        ask_daemon(settings, lambda client: client.resolve(fault_id, by, note))
    except NoDaemonError as unavailable:
        log.info("%s: writing the record directly", unavailable)
    else:
        out.print(f"fault {fault_id} resolved by {by}")
        return
    with opened(settings) as repo:
        try:
            fault = repo.close_fault(fault_id, by, note, utc_now())
        except StorageError as error:
            err.print(f"[red]{error}")
            raise typer.Exit(EXIT_NONE) from error
    out.print(
        f"fault {fault.fault_id} ({fault.kind.slug}, lamp {fault.lamp_id}) resolved by {by}"
        " (no daemon running: recorded directly)"
    )


@app.command("lamp")
def lamp_story(
    lamp_id: Annotated[str, typer.Argument(help="The lamp's id.")],
    config: ConfigOption = None,
    db: DbOption = None,
    reports: ReportsOption = 10,
    fmt: JsonFormat = "table",
) -> None:
    """A lamp: its state and position, its faults, its last reports and commands."""
    shown = _choice(fmt, ("table", "json"), "format")
    with reading(config, db) as (settings, repo):
        lamp = repo.lamp(lamp_id)
        if lamp is None:
            err.print(f"[red]no lamp {lamp_id!r} on record[/] (lighting lamps lists them)")
            raise typer.Exit(EXIT_NONE)
        told = LampStory(
            lamp=lamp,
            faults=repo.faults(status=None, lamp_id=lamp_id, limit=20),
            reports=repo.reports(lamp_id, limit=reports),
            commands=repo.commands(lamp_id=lamp_id, limit=10),
        )
    _tell(told, shown, settings.site_value.tzinfo)


# -- incidents ---------------------------------------------------------------------------


@incidents_app.callback()
def incidents(
    ctx: typer.Context,
    config: ConfigOption = None,
    db: DbOption = None,
    zone: Annotated[str | None, typer.Option(help="Only incidents touching this zone.")] = None,
    status: Annotated[
        str, typer.Option(help="open, acknowledged, resolved, active (open or acknowledged), all")
    ] = "active",
    since: Annotated[
        str | None, typer.Option(help="Seen since: an ISO time (2026-11-24T18:00) or 12h, 3d.")
    ] = None,
    fmt: FormatChoice = "table",
) -> None:
    """List incidents (active ones by default), newest first. Exit 1 if none."""
    if ctx.invoked_subcommand is not None:
        return
    shown = _choice(fmt, FORMATS, "format")
    statuses = _statuses(status)
    with reading(config, db) as (settings, repo):
        tz = settings.site_value.tzinfo
        found = repo.incidents(status=statuses, zone=zone, since=parse_since(since, tz, utc_now()))
    if shown == "geojson":
        typer.echo(faults_geojson([], found))
    elif shown in ("json", "csv"):
        typer.echo(to_json(incident_dict(i) for i in found))
    else:
        out.print(incidents_table(found, tz))
    if not found:
        raise typer.Exit(EXIT_NONE)


@incidents_app.command("show")
def show_incident(
    incident_id: Annotated[int, typer.Argument(help="The incident's id.")],
    config: ConfigOption = None,
    db: DbOption = None,
    fmt: JsonFormat = "table",
) -> None:
    """An incident and the faults of its lamps."""
    shown = _choice(fmt, ("table", "json"), "format")
    with reading(config, db) as (settings, repo):
        try:
            incident = repo.incident(incident_id)
        except StorageError as error:
            err.print(f"[red]{error}")
            raise typer.Exit(EXIT_NONE) from error
        members = repo.faults(status=None, incident_id=incident_id)
    if shown == "json":
        shown_incident = {**incident_dict(incident), "faults": [fault_dict(f) for f in members]}
        typer.echo(json.dumps(shown_incident, indent=2, ensure_ascii=False))
        return
    tz = settings.site_value.tzinfo
    out.print(incidents_table([incident], tz))
    out.print(faults_table(members, tz))


@incidents_app.command("ack")
def acknowledge_incident(
    incident_id: Annotated[int, typer.Argument(help="The incident's id.")],
    by: ByOption,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Acknowledge an incident and every fault in it. Exit 1 if there is no such one."""
    with reading(config, db) as (_, repo):
        try:
            incident = repo.acknowledge_incident(incident_id, by, utc_now())
        except StorageError as error:
            err.print(f"[red]{error}")
            raise typer.Exit(EXIT_NONE) from error
    out.print(f"incident {incident.incident_id} (cell {incident.cell}) acknowledged by {by}")


@incidents_app.command("resolve")
def resolve_incident(
    incident_id: Annotated[int, typer.Argument(help="The incident's id.")],
    by: ByOption,
    note: Annotated[str, typer.Option(help="What was done (kept with every fault).")] = "",
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Resolve an incident and every fault still active in it, with a note."""
    with reading(config, db) as (_, repo):
        try:
            incident, closed = repo.close_incident(incident_id, by, note, utc_now())
        except StorageError as error:
            err.print(f"[red]{error}")
            raise typer.Exit(EXIT_NONE) from error
    out.print(
        f"incident {incident.incident_id} (cell {incident.cell}) resolved by {by}, "
        f"with {len(closed)} faults"
    )
