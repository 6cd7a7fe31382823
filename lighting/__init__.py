"""citylight: the central management system for NB-IoT street lighting.

The pieces most programs need are re-exported here; the rest live in their packages
(``lighting.protocol``, ``lighting.storage``, ``lighting.transports``, ``lighting.controller``).
"""

from lighting.errors import (
    ConfigError,
    DeliveryError,
    EndpointError,
    LightingError,
    ProtocolError,
    StorageError,
    UnknownLampError,
)
from lighting.model import (
    Ack,
    Command,
    FaultEvent,
    FaultKind,
    Registration,
    Severity,
    StateReport,
)

__all__ = [
    "Ack",
    "Command",
    "ConfigError",
    "DeliveryError",
    "EndpointError",
    "FaultEvent",
    "FaultKind",
    "LightingError",
    "ProtocolError",
    "Registration",
    "Severity",
    "StateReport",
    "StorageError",
    "UnknownLampError",
]
