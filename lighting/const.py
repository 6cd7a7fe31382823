"""Constants shared across the lighting package (and its command lines)."""

from __future__ import annotations

from typing import Final

# Command outcomes, as stored in the command log.
PENDING: Final = "pending"
ACKNOWLEDGED: Final = "acknowledged"
FAILED: Final = "failed"
SUPERSEDED: Final = "superseded"

# The life of a fault (and of an incident): open, acknowledged by a person, resolved.
OPEN: Final = "open"
RESOLVED: Final = "resolved"
ACTIVE: Final = (OPEN, ACKNOWLEDGED)
FAULT_STATUSES: Final = (OPEN, ACKNOWLEDGED, RESOLVED)

# Who raised or resolved a fault.
SOURCE_LAMP: Final = "lamp"
SOURCE_CONTROLLER: Final = "controller"

# Exit codes of the command lines (documented in README.md).
EXIT_OK: Final = 0
EXIT_NONE: Final = 1
"""Nothing found (no faults, no lamps, no commands), or validation found errors."""
EXIT_USAGE: Final = 2
EXIT_REFUSED: Final = 3
"""The system refused a resource: a port, a database, a file-descriptor limit."""
