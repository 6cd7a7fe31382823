"""Errors of the simulator.

::

    SimulatorError
    ├── FleetError      a fleet that cannot be built (bad count, address range exhausted)
    │   └── ProfileError    a city profile that cannot be used (source, table, key)
    └── BindError       an endpoint that the system refused to open (address, port, errno)
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error raised by the simulator."""


class FleetError(SimulatorError):
    """A fleet description that cannot be turned into lamps."""


class ProfileError(FleetError):
    """A city profile that cannot be read or validated, naming the file, table and key."""

    def __init__(self, message: str, *, source: str, table: str = "", key: str = "") -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.table = table
        self.key = key
        self.reason = message


class BindError(SimulatorError):
    """The operating system refused to open a lamp's endpoint."""

    def __init__(self, address: str, port: int, reason: str) -> None:
        super().__init__(f"cannot bind {address}:{port}: {reason}")
        self.address = address
        self.port = port
        self.reason = reason
