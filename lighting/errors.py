"""Errors of the lighting package.

One base, at most three levels, structured attributes::

    LightingError
    ├── ProtocolError        a payload, path or option that breaks protocol v1 (code, reason)
    ├── ConfigError          a configuration file that cannot be used (source, key)
    ├── UnknownLampError     a lamp the controller has never registered (lamp_id)
    ├── DeliveryError        a command that did not reach its lamp (lamp_id, reason)
    ├── EndpointError        the controller's own endpoint could not be opened (address)
    ├── BrokerError          the MQTT broker refused the connection or it broke (broker)
    └── StorageError         the database refused or failed an operation
        └── NotFoundError    no such fault, incident or lamp in the record (what, key)

Each boundary translates the errors of the library below it with ``raise ... from err``:
cbor2 into ``ProtocolError``, aiocoap into ``DeliveryError``, socket and TLS errors of
the lean MQTT subscriber into ``BrokerError``, SQLAlchemy into
``StorageError`` and pydantic into ``ConfigError``.
"""

from __future__ import annotations


class LightingError(Exception):
    """Base of every error raised by the lighting package."""


class ProtocolError(LightingError):
    """A message that does not follow the wire protocol.

    ``code`` is the CoAP response code the message deserves ("4.00", "4.13", ...), so an
    endpoint can answer with it, and ``reason`` is the diagnostic payload sent back.
    """

    def __init__(self, reason: str, *, code: str = "4.00") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class ConfigError(LightingError):
    """A configuration that cannot be loaded, naming the file and the key."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.key = key


class UnknownLampError(LightingError):
    """A message about a lamp that has not registered with the controller."""

    def __init__(self, lamp_id: str) -> None:
        super().__init__(f"unknown lamp {lamp_id!r}: it must register first")
        self.lamp_id = lamp_id


class DeliveryError(LightingError):
    """A command that could not be delivered to a lamp."""

    def __init__(self, lamp_id: str, reason: str) -> None:
        super().__init__(f"lamp {lamp_id}: {reason}")
        self.lamp_id = lamp_id
        self.reason = reason


class EndpointError(LightingError):
    """The controller could not open its own endpoint (port taken, address missing)."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot open the endpoint {address}: {reason}")
        self.address = address
        self.reason = reason


class BrokerError(LightingError):
    """The MQTT broker refused the connection, or the connection to it broke."""

    def __init__(self, broker: str, reason: str) -> None:
        super().__init__(f"broker {broker}: {reason}")
        self.broker = broker
        self.reason = reason


class StorageError(LightingError):
    """The database failed or refused an operation."""


class NotFoundError(StorageError):
    """The record holds no such fault, incident or lamp."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"no {what} {key}")
        self.what = what
        self.key = key
