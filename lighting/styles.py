"""How severities look in a terminal: one palette for the CLI's tables and the dashboard.

Pure (a module of its own so that the dashboard, which may not import the storage that the
CLI's views use, shares it)."""

from __future__ import annotations

from collections.abc import Mapping

from lighting.model import Severity

SEVERITY_STYLE: Mapping[str, str] = {
    Severity.CRITICAL: "bold red",
    Severity.MAJOR: "red",
    Severity.MINOR: "yellow",
    Severity.WARNING: "cyan",
}
"""Rich styles of the fault severities."""
