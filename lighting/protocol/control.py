"""The control channel's wire format: JSON lines between the daemon and its views.

One JSON object per line, UTF-8. A view sends requests ``{"id": 7, "op": "snapshot", ...}``
and gets ``{"id": 7, "ok": true, "result": ...}`` or ``{"id": 7, "ok": false, "error":
"..."}``; after ``{"op": "subscribe"}`` the daemon also sends ``{"notice": {...}}`` lines.
Notices and the city overview are encoded with a ``type`` tag and come back as the same
frozen values. Pure: no sockets here (``lighting.controller.control`` serves it,
``lighting.client`` speaks it).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from typing import Any, Final

from lighting.errors import ProtocolError
from lighting.model import FaultKind
from lighting.notices import FaultNotice, IncidentNotice, LampNotice, Notice
from lighting.overview import (
    CellDelivery,
    CityView,
    CommandView,
    EnergyNight,
    LampView,
    LevelPoint,
    OverrideView,
    ZoneView,
)

MAX_LINE: Final = 1 << 20
"""Longest line either side accepts (an overview of a large city fits many times)."""

OPS: Final = (
    "hello",
    "snapshot",
    "subscribe",
    "faults",
    "lamp",
    "energy",
    "override",
    "cancel",
    "acknowledge",
    "resolve",
)
"""What a view may ask (``docs/architecture.md``, How views connect)."""

VERSION: Final = 1

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        LampNotice,
        FaultNotice,
        IncidentNotice,
        CityView,
        ZoneView,
        OverrideView,
        CellDelivery,
        LampView,
        LevelPoint,
        CommandView,
        EnergyNight,
    )
}
_TIMES = frozenset(
    {
        "at",
        "opened_at",
        "start",
        "end",
        "sunset",
        "sunrise",
        "next_change_at",
        "last_seen",
    }
)
_DATES = frozenset({"night"})


def _plain(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, FaultKind):
        return value.slug
    if isinstance(value, frozenset | set):
        return sorted(_plain(item) for item in value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def to_plain(value: Any) -> dict[str, Any]:
    """A notice or a view value as a JSON-ready dict with its ``type``."""
    fields = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return {"type": type(value).__name__, **fields}


def _value(name: str, raw: Any) -> Any:  # noqa: PLR0911 - one return per kind of field
    """One field of a value from its JSON form (by the field's name)."""
    if raw is None:
        return None
    if name in _TIMES:
        return datetime.fromisoformat(raw)
    if name in _DATES:
        return date.fromisoformat(raw)
    if name == "kind":
        return FaultKind.from_slug(raw)
    if isinstance(raw, list):
        return tuple(from_plain(item) if isinstance(item, dict) else item for item in raw)
    if isinstance(raw, dict) and "type" in raw:
        return from_plain(raw)
    return raw


def from_plain(data: Any) -> Any:
    """The value ``to_plain`` gave; ``ProtocolError`` if it is not one."""
    name = data.get("type") if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in _TYPES:  # (a list or a dict is unhashable)
        raise ProtocolError(f"not a control value: {str(data)[:80]}")
    cls = _TYPES[name]
    try:
        values = {
            f.name: _value(f.name, data[f.name]) for f in dataclasses.fields(cls) if f.name in data
        }
        if cls is LampNotice and "faults" in values:
            values["faults"] = frozenset(FaultKind.from_slug(slug) for slug in values["faults"])
        return cls(**values)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise ProtocolError(f"bad {cls.__name__}: {err}") from err


def encode(message: dict[str, Any]) -> bytes:
    """One line of the channel."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode() + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate (a view may send "\ud800", and its text comes back in an answer)
        # has no UTF-8 form: JSON's own escapes carry it.
        return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """A line of the channel as a dict; ``ProtocolError`` if it is not a JSON object."""
    if len(line) > MAX_LINE:
        raise ProtocolError(f"a line of {len(line)} bytes is over {MAX_LINE}")
    try:
        message = json.loads(line)
    except (ValueError, RecursionError) as err:
        # ValueError: not UTF-8, not JSON (JSONDecodeError), or an integer of over 4,300
        # digits; RecursionError: arrays or objects nested too deep for the parser.
        raise ProtocolError(f"not JSON: {str(err)[:200]}") from err
    if not isinstance(message, dict):
        raise ProtocolError("a message is a JSON object")
    return message


def notice_message(notice: Notice) -> dict[str, Any]:
    return {"notice": to_plain(notice)}
