"""CoAP resources of protocol v1: where each message goes, and how it is encoded.

A lamp node serves ``/cmd`` and ``/state`` (and ``/.well-known/core``); the controller
serves ``/reg``, ``/report`` and ``/fault``. Every payload is CBOR (content format 60).
Paths are tuples of URI-Path segments, the form aiocoap's ``Site`` and ``Message`` use.
"""

from __future__ import annotations

from typing import Final

PROTOCOL_VERSION: Final = 1
CONTENT_FORMAT_CBOR: Final = 60
DEFAULT_PORT: Final = 5683
MAX_PAYLOAD: Final = 1024
"""Largest payload accepted, in bytes; NB-IoT frames are small and v1 messages fit in 200."""

LAMP_COMMAND: Final = ("cmd",)
"""PUT (or POST) a command to a lamp; answered 2.04 Changed with an acknowledgement."""
LAMP_STATE: Final = ("state",)
"""GET a lamp's state report."""
CONTROLLER_REGISTER: Final = ("reg",)
"""POST a registration to the controller; answered 2.01 Created (or 2.04 on re-registration)."""
CONTROLLER_REPORT: Final = ("report",)
"""POST a state report to the controller; answered 2.04 Changed once it is stored."""
CONTROLLER_FAULT: Final = ("fault",)
"""POST a fault event to the controller; answered 2.04 Changed once it is stored."""


def uri(host: str, port: int, path: tuple[str, ...]) -> str:
    """The ``coap://`` URI of ``path`` on ``host:port`` (an IPv6 host is bracketed)."""
    shown = f"[{host}]" if ":" in host else host
    return f"coap://{shown}:{port}/" + "/".join(path)
