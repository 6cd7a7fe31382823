"""The MQTT topics of citylight: where lamp data comes in and where the controller speaks.

Some cities' NB-IoT platforms forward what their devices send to an MQTT broker instead of
letting them reach the controller over CoAP. The broker then carries two separate trees
under one root (``citylight`` by default, ``[mqtt] topic_root``)::

    {root}/up/{zone}/{lamp}/report     in   a state report, the CBOR body of protocol v1
    {root}/up/{zone}/{lamp}/fault      in   a fault event, the CBOR body of protocol v1
    {root}/lamp/{zone}/{lamp}          out  the lamp's status, JSON, retained
    {root}/event/fault/{zone}/{lamp}   out  a fault opened, acknowledged, ... (JSON)
    {root}/event/incident              out  an incident opened, grouped, ... (JSON)

The controller subscribes to ``{root}/up/#`` only, so it never consumes its own output.
Registration stays on CoAP: the controller needs the lamp's CoAP address to command it,
and learns it from the registration's source address.

Everything here is pure: frozen values validated in ``__post_init__`` (after aiomqtt's
``topic.py``), and functions from strings to values that raise ``ProtocolError``.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from typing import Final

from lighting.errors import ProtocolError
from lighting.model import check_lamp_id, check_zone

DEFAULT_ROOT: Final = "citylight"
UP: Final = "up"
LAMP: Final = "lamp"
EVENT: Final = "event"
FAULT_EVENTS: Final = "fault"
INCIDENT_EVENTS: Final = "incident"
_ROOT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
PARSED_TOPICS: Final = 1 << 16
"""Uplink topics whose parse is remembered, the most recently seen: a city's lamps send on
the same few topics each, and a parse costs 2 µs, a tenth of a report over MQTT. At most
some 25 MiB, whatever topics come."""


class UplinkKind(enum.StrEnum):
    """What a lamp sends up over MQTT: the last segment of its topic."""

    REPORT = "report"
    FAULT = "fault"


def check_root(root: str) -> str:
    """Return ``root`` if it is one topic level of at most 32 of ``a-z 0-9 _ -``."""
    if not isinstance(root, str) or not _ROOT.match(root):
        raise ProtocolError(f"topic root {root!r} must be 1 to 32 of a-z 0-9 _ -")
    return root


@dataclass(frozen=True, slots=True)
class Uplink:
    """The topic of one lamp's uplink: ``{root}/up/{zone}/{lamp}/{kind}``."""

    root: str
    zone: str
    lamp_id: str
    kind: UplinkKind

    def __post_init__(self) -> None:
        check_root(self.root)
        check_zone(self.zone)
        check_lamp_id(self.lamp_id)
        if not isinstance(self.kind, UplinkKind):
            raise ProtocolError(f"uplink kind {self.kind!r} is not one of report, fault")

    @property
    def topic(self) -> str:
        return f"{self.root}/{UP}/{self.zone}/{self.lamp_id}/{self.kind}"

    @classmethod
    def parse(cls, topic: str, root: str = DEFAULT_ROOT) -> Uplink:
        """The uplink that ``topic`` names; ``ProtocolError`` if it names none."""
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != root or parts[1] != UP:
            raise ProtocolError(f"topic {topic!r} is not {root}/{UP}/ZONE/LAMP/KIND")
        _, _, zone, lamp_id, kind = parts
        try:
            uplink_kind = UplinkKind(kind)
        except ValueError:
            raise ProtocolError(f"topic {topic!r}: {kind!r} is not report or fault") from None
        return cls(root, zone, lamp_id, uplink_kind)


@dataclass(frozen=True, slots=True)
class Topics:
    """The whole layout under one root: what the controller subscribes to and publishes."""

    root: str = DEFAULT_ROOT

    def __post_init__(self) -> None:
        check_root(self.root)

    @property
    def uplinks(self) -> str:
        """The filter the controller subscribes to: every uplink, and nothing it publishes."""
        return f"{self.root}/{UP}/#"

    @property
    def lamps(self) -> str:
        """The filter of every lamp's retained status."""
        return f"{self.root}/{LAMP}/#"

    @property
    def events(self) -> str:
        """The filter of every fault and incident event."""
        return f"{self.root}/{EVENT}/#"

    def uplink(self, zone: str, lamp_id: str, kind: UplinkKind) -> str:
        return Uplink(self.root, zone, lamp_id, kind).topic

    def parse_uplink(self, topic: str) -> Uplink:
        """The uplink that ``topic`` names (remembered for ``PARSED_TOPICS`` topics);
        ``ProtocolError`` if it names none (never remembered)."""
        return _parse_uplink(topic, self.root)

    def lamp(self, zone: str, lamp_id: str) -> str:
        """Where the lamp's status is retained."""
        return f"{self.root}/{LAMP}/{check_zone(zone)}/{check_lamp_id(lamp_id)}"

    def fault(self, zone: str, lamp_id: str) -> str:
        """Where the events of the lamp's faults go."""
        return f"{self.root}/{EVENT}/{FAULT_EVENTS}/{check_zone(zone)}/{check_lamp_id(lamp_id)}"

    @property
    def incident(self) -> str:
        """Where incident events go (an incident spans lamps, often zones)."""
        return f"{self.root}/{EVENT}/{INCIDENT_EVENTS}"


@functools.lru_cache(maxsize=PARSED_TOPICS)
def _parse_uplink(topic: str, root: str) -> Uplink:
    return Uplink.parse(topic, root)
