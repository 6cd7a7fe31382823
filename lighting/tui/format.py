"""How the dashboard writes numbers, times and faults: pure functions, values in, text out.

Cells are ``rich.text.Text`` (never markup strings: a lamp id or a reason is shown as it
is). Severity colours are the one palette of the dashboard, the same in every panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.text import Text

from lighting.model import Severity
from lighting.notices import FaultNotice, IncidentNotice
from lighting.styles import SEVERITY_STYLE

SEVERITY_MARK: Mapping[str, str] = {
    Severity.CRITICAL: "C",
    Severity.MAJOR: "M",
    Severity.MINOR: "m",
    Severity.WARNING: "w",
}
STATUS_STYLE: Mapping[str, str] = {
    "open": "bold",
    "acknowledged": "",
    "grouped": "dim",
    "resolved": "dim green",
}
DASH = "-"


def site_zone(name: str) -> tzinfo | None:
    """The site's time zone from its name in the snapshot (None: show UTC offsets as sent)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def clock(instant: datetime | None, tz: tzinfo | None, *, seconds: bool = False) -> str:
    """``23:31`` (or ``23:31:05``) in the site's time; a dash for nothing."""
    if instant is None:
        return DASH
    shown = instant.astimezone(tz) if tz is not None else instant
    return shown.strftime("%H:%M:%S" if seconds else "%H:%M")


def span(delta: timedelta) -> str:
    """``1 h 05 min``, ``12 min``, ``40 s``: a duration as an operator reads it."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "0 s"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def count(number: int, noun: str) -> str:
    """``1 open fault``, ``2 open faults``: a number and what it counts, in agreement."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def kilowatts(watts: float | None) -> str:
    if watts is None:
        return DASH
    return f"{watts / 1000:.2f}"


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return DASH
    return f"{value:.{digits}f}"


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value:.0f} %"


def level(value: int | None) -> str:
    return DASH if value is None else f"{value} %"


def severity_counts(faults: Mapping[str, int]) -> Text:
    """Open faults as ``1C 2m``, coloured by severity, most urgent first; a dash for none."""
    text = Text()
    for severity in Severity:
        count = faults.get(severity, 0)
        if count:
            if text:
                text.append(" ")
            text.append(f"{count}{SEVERITY_MARK[severity]}", style=SEVERITY_STYLE[severity])
    return text if text else Text(DASH, style="dim")


def severity(name: str) -> Text:
    return Text(name, style=SEVERITY_STYLE.get(name, ""))


def status(name: str) -> Text:
    return Text(name, style=STATUS_STYLE.get(name, ""))


def fault_line(fault: FaultNotice, tz: tzinfo | None) -> Text:
    """One line about a fault: when, how bad, what, where, and where it stands."""
    line = Text(f"{clock(fault.at, tz)} ")
    line.append(f"{fault.kind.slug:<17}", style=SEVERITY_STYLE[fault.severity])
    line.append(f" {fault.lamp_id} ({fault.zone}) ")
    line.append_text(status(fault.status))
    return line


def incident_line(incident: IncidentNotice, tz: tzinfo | None) -> Text:
    line = Text(f"{clock(incident.at, tz)} ")
    line.append(f"{incident.kind.slug:<17}", style=SEVERITY_STYLE[incident.severity])
    line.append(f" {incident.lamps} lamps, cell {incident.cell} ")
    line.append_text(status(incident.status))
    return line


def bar(share: float, width: int) -> Text:
    """A horizontal bar ``share`` (0 to 1) of ``width`` cells, in eighths."""
    share = min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    full, part = divmod(eighths, 8)
    body = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return Text(body.ljust(width), style="green")
