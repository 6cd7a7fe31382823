"""``lighting``: the command line of citylight, for the daemon, the demo and the field crew.

Every command is a view: it reads the configuration and the database (or starts the daemon,
the simulator or the demo) and prints. Exit codes: 0 success (for listings: something found),
1 nothing found (for ``validate``: the calendars have errors), 2 usage or configuration
error, 3 the system refused a resource. Each group of commands is one module; importing it
registers its commands on ``app``.
"""

from __future__ import annotations

import contextlib

from lighting.cli import (
    audit,
    daemon,
    dashboard,
    energy,
    faults,
    inventory,
    keys,
    overrides,
    plans,
    records,
)
from lighting.cli.common import app

__all__ = [
    "app",
    "audit",
    "daemon",
    "dashboard",
    "energy",
    "faults",
    "inventory",
    "keys",
    "main",
    "overrides",
    "plans",
    "records",
]


def main() -> None:
    """Entry point of the ``lighting`` console script."""
    with contextlib.suppress(BrokenPipeError):
        app()
