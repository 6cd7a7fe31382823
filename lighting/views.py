"""How the CLI and the demo show records: rich tables for people, JSON for programs.

Pure formatting: values in, renderables or strings out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from rich.table import Table

from lighting.storage import (
    ChangeRecord,
    ChangeSummary,
    CommandRecord,
    LampRecord,
)
from schedules import (
    CauseKind,
    Change,
    NightPlan,
    Problem,
    Report,
    Severity,
    SunCase,
    describe_dates,
    format_duration,
)


def local_time(instant: datetime | None, tz: tzinfo | None, fmt: str = "%m-%d %H:%M") -> str:
    if instant is None:
        return "-"
    shown = instant.astimezone(tz) if tz is not None else instant
    return shown.strftime(fmt)


def zone_label(tz: tzinfo | None) -> str:
    return "UTC" if tz is None else str(tz)


def lamp_dict(lamp: LampRecord) -> dict[str, Any]:
    return {
        "lamp": lamp.lamp_id,
        "zone": lamp.zone,
        "cell": lamp.cell,
        "status": lamp.status,
        "level": lamp.level,
        "power_w": lamp.power_w,
        "energy_wh": lamp.energy_wh,
        "wattage": lamp.wattage,
        "last_seen": None if lamp.last_seen is None else lamp.last_seen.isoformat(),
        "latitude": lamp.latitude,
        "longitude": lamp.longitude,
        "address": f"{lamp.address}:{lamp.port}",
    }


def lamps_table(
    lamps: Sequence[LampRecord], tz: tzinfo | None = None, title: str | None = None
) -> Table:
    heading = title or f"{len(lamps)} lamps"
    table = Table(title=f"{heading} (times in {zone_label(tz)})", title_justify="left")
    for column in ("lamp", "zone", "cell", "level %", "power W", "energy Wh", "status", "seen"):
        table.add_column(column, justify="right" if column[-1] in "%Wh" else "left")
    for lamp in lamps:
        table.add_row(
            lamp.lamp_id,
            lamp.zone,
            lamp.cell,
            "-" if lamp.level is None else str(lamp.level),
            "-" if lamp.power_w is None else f"{lamp.power_w:.1f}",
            "-" if lamp.energy_wh is None else f"{lamp.energy_wh:.2f}",
            lamp.status,
            local_time(lamp.last_seen, tz, "%H:%M:%S"),
        )
    return table


def _sun_line(plan: NightPlan) -> str:
    sun = plan.sun
    tz = plan.site.tzinfo
    parts = [f"{plan.sun.case.value}"]
    if sun.sunset is not None:
        parts.append(f"sunset {sun.sunset.astimezone(tz):%H:%M}")
    if sun.sunrise is not None:
        parts.append(f"sunrise {sun.sunrise.astimezone(tz):%H:%M} (+1 day)")
    if plan.sun.twilight is not SunCase.NORMAL:
        parts.append(f"twilight {plan.sun.twilight.value}")
    return ", ".join(parts)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _short_cause(change: Change) -> str:
    """What a change comes from, in a few words: "sunset-10min", "override storm"."""
    cause = change.cause
    if cause.kind is CauseKind.OVERRIDE and cause.override is not None:
        return f"override {cause.override.name}"
    step = "" if cause.step is None else str(cause.step.anchor)
    if cause.kind is CauseKind.RESUME:
        ended = cause.ended.name if cause.ended is not None else "override"
        return f"end of {ended}: {step or 'program'} resumes"
    return step


def _ramp(change: Change) -> str:
    return format_duration(change.fade) if change.fade else ""


def _from_level(change: Change) -> int:
    """The level the lamps leave at ``change.at`` (mid-ramp when the program resumes)."""
    return change.level_during(change.at) if change.ramp else change.start_level


def _program_line(plan: NightPlan) -> str:
    zone = plan.site.timezone
    return f"program {plan.program.name!r}, {plan.source}; times in {zone}"


def change_dict(change: Change) -> dict[str, Any]:
    cause = change.cause
    return {
        "at": change.at.isoformat(),
        "level": change.level,
        "ramp_s": int(change.fade.total_seconds()),
        "from_level": _from_level(change),
        "step": None if cause.step is None else str(cause.step.anchor),
        "kind": cause.kind.value,
        "override": None if cause.override is None else cause.override.name,
        "cause": str(cause),
    }


def plan_dict(zone: str, plan: NightPlan, *, explain: bool = False) -> dict[str, Any]:
    sun = plan.sun
    found: dict[str, Any] = {
        "zone": zone,
        "lamp": plan.lamp,
        "night": plan.date.isoformat(),
        "site": plan.site.name,
        "calendar": plan.calendar.name,
        "rule": None if plan.rule is None else plan.rule.name,
        "program": plan.program.name,
        "sun": {
            "case": sun.case.value,
            "twilight": sun.twilight.value,
            "sunset": _iso(sun.sunset),
            "sunrise": _iso(sun.sunrise),
            "dusk": _iso(sun.dusk),
            "dawn": _iso(sun.dawn),
            "solar_midnight": sun.solar_midnight.isoformat(),
        },
        "changes": [change_dict(change) for change in plan.changes],
        "overrides": [override.name for override in plan.overrides],
        "notes": list(plan.notes),
    }
    if explain:
        found["steps"] = [
            {
                "step": str(outcome.step),
                "fate": outcome.fate.value,
                "at": _iso(outcome.at),
                "written_at": _iso(outcome.written_at),
            }
            for outcome in plan.outcomes
        ]
    return found


def plans_table(plans: Mapping[str, NightPlan]) -> Table:
    first = next(iter(plans.values()))
    table = Table(
        title=f"night of {first.date} at {first.site.name}: {_sun_line(first)}",
        title_justify="left",
    )
    for column in ("zone", "program", "time", "level %", "ramp", "step"):
        table.add_column(column, justify="right" if column == "level %" else "left")
    for zone, plan in plans.items():
        tz = plan.site.tzinfo
        for change in plan.changes:
            table.add_row(
                zone,
                plan.program.name,
                f"{change.at.astimezone(tz):%Y-%m-%d %H:%M}",
                str(change.level),
                _ramp(change),
                _short_cause(change),
            )
        for note in plan.notes:
            table.add_row(zone, plan.program.name, "", "", "", f"note: {note}")
    return table


def explain_table(zone: str, plan: NightPlan) -> Table:
    """Every change of one night with its time, level, ramp, step and the calendar rule that
    chose the program (or the override), then the steps that did not fire and why; the
    notes go in the caption."""
    tz = plan.site.tzinfo
    target = zone if plan.lamp is None else f"{zone}, lamp {plan.lamp}"
    table = Table(
        title=(
            f"{target}: night of {plan.date} ({plan.date:%A}) at {plan.site.name}, "
            f"{_sun_line(plan)}\n{_program_line(plan)}"
        ),
        title_justify="left",
        caption="\n".join(f"note: {note}" for note in plan.notes) or None,
        caption_justify="left",
    )
    table.add_column("time", no_wrap=True)
    table.add_column("level %", justify="right", no_wrap=True)
    table.add_column("ramp", no_wrap=True)
    table.add_column("step")
    table.add_column("rule", no_wrap=True)
    for change in plan.changes:
        cause = change.cause
        override = cause.override if cause.kind is CauseKind.OVERRIDE else None
        table.add_row(
            f"{change.at.astimezone(tz):%Y-%m-%d %H:%M:%S}",
            str(change.level),
            _ramp(change),
            _short_cause(change)
            if override is None
            else f"{override.name} (priority {override.priority})",
            "override" if override else _rule_name(plan),
        )
    if not plan.changes:
        table.add_row("", "", "", "no change tonight: the lamps stay off", _rule_name(plan))
    idle = [outcome for outcome in plan.outcomes if not outcome.fate.fired]
    if idle:
        table.add_section()
    for outcome in idle:
        at = "" if outcome.at is None else f"{outcome.at.astimezone(tz):%Y-%m-%d %H:%M:%S}"
        step = f"{outcome.step.anchor} {outcome.step.level}%: {outcome.fate.value}"
        table.add_row(at, "", "", step, _rule_name(plan))
    return table


def _rule_name(plan: NightPlan) -> str:
    if plan.rule is not None:
        return plan.rule.name
    return "default" if plan.calendar.rules else "every night"


def _lit(plan: NightPlan) -> tuple[datetime | None, datetime | None, timedelta]:
    """First lighting, last switching off, and the time lit during the night."""
    on = next((change.at for change in plan.changes if change.level > 0), None)
    off = next((change.at for change in reversed(plan.changes) if change.level == 0), None)
    lit = timedelta(0)
    ends = [change.at for change in plan.changes[1:]] + [plan.end]
    for change, until in zip(plan.changes, ends, strict=False):
        if change.level > 0:
            lit += until.astimezone(UTC) - change.at.astimezone(UTC)  # not wall-clock time
    return on, off, lit


def year_table(zone: str, plans: Sequence[NightPlan]) -> Table:
    """One row per night: the program and why, the first lighting, the last switching off,
    the hours lit and the number of changes and notes."""
    first = plans[0]
    table = Table(
        title=f"{zone}: {len(plans)} nights at {first.site.name} from {first.date} "
        f"(times in {first.site.timezone})",
        title_justify="left",
    )
    for column in ("night", "day", "program", "because", "on", "off", "lit h", "changes", "notes"):
        table.add_column(
            column,
            justify="right" if column in {"lit h", "changes"} else "left",
            no_wrap=column in {"night", "day", "on", "off", "lit h"},
        )
    for plan in plans:
        on, off, lit = _lit(plan)
        tz = plan.site.tzinfo
        table.add_row(
            str(plan.date),
            f"{plan.date:%a}",
            plan.program.name,
            "default" if plan.rule is None else f"rule {plan.rule.name}",
            "-" if on is None else f"{on.astimezone(tz):%H:%M}",
            "-" if off is None else f"{off.astimezone(tz):%H:%M}",
            f"{lit.total_seconds() / 3600:.1f}",
            str(len(plan.changes)),
            str(len(plan.notes)) if plan.notes else "",
        )
    return table


PLAN_CSV_COLUMNS = (
    "zone",
    "night",
    "weekday",
    "calendar",
    "rule",
    "program",
    "at",
    "level",
    "ramp_s",
    "kind",
    "cause",
)


def plans_csv(plans: Iterable[tuple[str, NightPlan]]) -> str:
    """CSV, one row per change, and one row with an empty time for a night without any,
    so every night planned appears."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PLAN_CSV_COLUMNS)
    for zone, plan in plans:
        night = [
            zone,
            plan.date.isoformat(),
            f"{plan.date:%a}",
            plan.calendar.name,
            "" if plan.rule is None else plan.rule.name,
            plan.program.name,
        ]
        for change in plan.changes:
            writer.writerow(
                [
                    *night,
                    change.at.isoformat(),
                    change.level,
                    int(change.fade.total_seconds()),
                    change.cause.kind.value,
                    str(change.cause),
                ]
            )
        if not plan.changes:
            reason = plan.notes[0] if plan.notes else "no change: the lamps stay off"
            writer.writerow([*night, "", "", "", "", reason])
    return buffer.getvalue()


def problem_dict(problem: Problem) -> dict[str, Any]:
    return {
        "severity": problem.severity.value,
        "code": problem.code,
        "message": problem.message,
        "program": problem.program,
        "rule": problem.rule,
        "step": None if problem.step is None else str(problem.step),
        "dates": [date.isoformat() for date in problem.dates],
    }


def report_dict(key: str, report: Report) -> dict[str, Any]:
    return {
        "calendar": key,
        "site": report.site.name,
        "first": report.first.isoformat(),
        "last": report.last.isoformat(),
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "problems": [problem_dict(problem) for problem in report.problems],
    }


_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def report_table(key: str, report: Report) -> Table:
    """The findings of ``schedules.validate`` for one calendar, errors first, with dates."""
    table = Table(
        title=(
            f"{key} at {report.site.name}, nights {report.first} to {report.last}: "
            f"{len(report.errors)} errors, {len(report.warnings)} warnings"
        ),
        title_justify="left",
    )
    for column in ("severity", "code", "finding", "nights"):
        table.add_column(column, overflow="fold")
    for problem in report.problems:
        style = _SEVERITY_STYLE[problem.severity]
        table.add_row(
            f"[{style}]{problem.severity.value}[/]",
            problem.code,
            problem.message,
            describe_dates(problem.dates) if problem.dates else "",
        )
    if not report.problems:
        table.add_row("[green]ok[/]", "", "nothing to report", "")
    return table


def change_line(change: ChangeRecord, tz: tzinfo | None = None) -> str:
    planned = change.planned_at.astimezone(tz) if tz is not None else change.planned_at
    took = (change.finished_at - change.started_at).total_seconds() if change.finished_at else 0.0
    return (
        f"{planned:%H:%M} zone {change.zone:<8} -> {change.level:>3}%  "
        f"{change.acknowledged}/{change.total} acknowledged, {change.failed} failed "
        f"in {took:.2f} s"
    )


def to_json(items: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps(list(items), indent=2, ensure_ascii=False)


def command_dict(command: CommandRecord) -> dict[str, Any]:
    return {
        "id": command.command_id,
        "change": command.change_id,
        "lamp": command.lamp_id,
        "level": command.level,
        "reason": command.reason,
        "created_at": command.created_at.isoformat(),
        "outcome": command.outcome,
        "attempts": command.attempts,
        "latency_ms": command.latency_ms,
        "completed_at": None if command.completed_at is None else command.completed_at.isoformat(),
        "error": command.error,
    }


def commands_table(commands: Sequence[CommandRecord], tz: tzinfo | None = None) -> Table:
    table = Table(
        title=f"{len(commands)} commands (times in {zone_label(tz)})", title_justify="left"
    )
    for column in ("id", "lamp", "level", "sent", "outcome", "tries", "ms", "reason"):
        table.add_column(
            column, justify="right" if column in {"id", "level", "tries", "ms"} else "left"
        )
    for c in commands:
        table.add_row(
            str(c.command_id),
            c.lamp_id,
            str(c.level),
            local_time(c.created_at, tz, "%m-%d %H:%M:%S"),
            c.outcome,
            str(c.attempts),
            "-" if c.latency_ms is None else f"{c.latency_ms:.0f}",
            c.reason if c.error is None else f"{c.reason}: {c.error}",
        )
    return table


def change_summary_dict(summary: ChangeSummary) -> dict[str, Any]:
    change = summary.change
    return {
        "change": change.change_id,
        "zone": change.zone,
        "level": change.level,
        "reason": change.reason,
        "planned_at": change.planned_at.isoformat(),
        "started_at": change.started_at.isoformat(),
        "lamps": change.total,
        "acknowledged": summary.acknowledged,
        "pending": summary.pending,
        "failed": summary.failed,
        "superseded": summary.superseded,
        "last_acknowledged_s": summary.took_s,
    }


def changes_table(summaries: Sequence[ChangeSummary], tz: tzinfo | None = None) -> Table:
    table = Table(
        title=f"{len(summaries)} changes (times in {zone_label(tz)}): ack acknowledged, "
        "wait pending, old superseded, s to the last acknowledgement",
        title_justify="left",
    )
    for column in ("id", "zone", "%", "started", "lamps", "ack", "wait", "fail", "old", "s"):
        table.add_column(column, justify="left" if column in {"zone", "started"} else "right")
    for s in summaries:
        c = s.change
        table.add_row(
            str(c.change_id),
            c.zone,
            str(c.level),
            local_time(c.started_at, tz, "%m-%d %H:%M"),
            str(c.total),
            str(s.acknowledged),
            str(s.pending),
            str(s.failed),
            str(s.superseded),
            "-" if s.took_s is None else f"{s.took_s:.2f}",
        )
    return table
