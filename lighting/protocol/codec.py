"""CBOR codecs of protocol v1: pure functions between bytes and ``lighting.model`` values.

Maps use small integer keys (one table for every message, see ``docs/protocol.md``) to keep
NB-IoT frames short. Decoding is strict where it matters and lenient where it helps
evolution: unknown keys are ignored; missing, mistyped or out-of-range values, duplicate
keys, deep nesting and oversized payloads are refused with a ``ProtocolError`` that carries
the CoAP code to answer with and a reason a person can read.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar, cast

import cbor2

from lighting.errors import ProtocolError
from lighting.model import (
    Ack,
    Command,
    FaultEvent,
    FaultKind,
    Registration,
    StateReport,
)
from lighting.protocol.paths import MAX_PAYLOAD

# The key table of protocol v1. Keys are never reused for another meaning.
K_LAMP: Final = 0
K_SEQ: Final = 1
K_LEVEL: Final = 2
K_COMMAND_ID: Final = 3
K_POWER_W: Final = 4
K_ENERGY_WH: Final = 5
K_BURNING_S: Final = 6
K_FAULTS: Final = 7
K_ZONE: Final = 8
K_LATITUDE: Final = 9
K_LONGITUDE: Final = 10
K_WATTAGE: Final = 11
K_CELL: Final = 12
K_FIRMWARE: Final = 13
K_FAULT_KIND: Final = 14
K_FAULT_ACTIVE: Final = 15
K_RAMP_S: Final = 16
K_VOLTAGE_V: Final = 17
K_REPORT_PERIOD_S: Final = 18
K_VERSION: Final = 19
K_QUEUE_MODE: Final = 20

_MAX_DEPTH: Final = 4
_T = TypeVar("_T")
_Map = Mapping[Any, Any]


def _loads(payload: bytes) -> _Map:
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(
            f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD} bytes", code="4.13"
        )
    if not payload:
        raise ProtocolError("empty payload: a CBOR map is required")
    stream = io.BytesIO(payload)
    try:
        decoder = cbor2.CBORDecoder(stream, allow_duplicate_keys=False, max_depth=_MAX_DEPTH)
        value = decoder.decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as err:
        raise ProtocolError(f"payload is not valid CBOR: {err}") from err
    if stream.tell() != len(payload):
        raise ProtocolError(
            f"payload is not valid CBOR: {len(payload) - stream.tell()} bytes after the map"
        )
    if not isinstance(value, dict):
        raise ProtocolError(f"payload must be a CBOR map, got {type(value).__name__}")
    return value


def _get(m: _Map, key: int, name: str, kind: type[_T] | tuple[type, ...]) -> _T:
    if key not in m:
        raise ProtocolError(f"missing {name} (key {key})")
    return _typed(m[key], key, name, kind)


def _opt(m: _Map, key: int, name: str, kind: type[_T] | tuple[type, ...], default: _T) -> _T:
    if key not in m:
        return default
    return _typed(m[key], key, name, kind)


def _typed(value: Any, key: int, name: str, kind: type[_T] | tuple[type, ...]) -> _T:
    if type(value) is kind:  # exactly the one type asked for (a bool is not an int here)
        return value
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python but a distinct CBOR type: refuse it where a number is due.
    if isinstance(value, bool) and bool not in kinds:
        raise ProtocolError(f"{name} (key {key}) must not be a boolean")
    if not isinstance(value, kinds):
        wanted = " or ".join(k.__name__ for k in kinds)
        raise ProtocolError(f"{name} (key {key}) must be {wanted}, got {type(value).__name__}")
    # A number may come as an integer, and the model's checks take it as a float: one past
    # the float range (a bignum) is refused here rather than overflow there.
    if float in kinds and isinstance(value, int) and abs(value) > sys.float_info.max:
        raise ProtocolError(f"{name} (key {key}) is out of range")
    return cast(_T, value)


def _text(m: _Map, key: int, name: str) -> str:
    """An optional text; NUL is refused (PostgreSQL cannot store it, and no cell or firmware
    name holds one): a lamp that sent it is told so (4.00) rather than answered 5.03 for
    ever."""
    text = _opt(m, key, name, str, "")
    if "\x00" in text:
        raise ProtocolError(f"{name} (key {key}) must not contain NUL")
    return text


def _build(factory: Callable[[], _T]) -> _T:
    """Run a model constructor, turning its validation errors into 4.00 refusals."""
    try:
        return factory()
    except ProtocolError:
        raise
    except (TypeError, ValueError) as err:
        raise ProtocolError(str(err)) from err


def _dumps(m: dict[int, Any]) -> bytes:
    return cbor2.dumps(m)


# -- command and acknowledgement (controller -> lamp) ---------------------------------------


def encode_command(command: Command) -> bytes:
    m: dict[int, Any] = {K_COMMAND_ID: command.command_id, K_LEVEL: command.level}
    if command.ramp_s:
        m[K_RAMP_S] = command.ramp_s
    return _dumps(m)


def decode_command(payload: bytes) -> Command:
    m = _loads(payload)
    return _build(
        lambda: Command(
            command_id=_get(m, K_COMMAND_ID, "command id", int),
            level=_get(m, K_LEVEL, "level", int),
            ramp_s=_opt(m, K_RAMP_S, "ramp", int, 0),
        )
    )


def encode_ack(ack: Ack) -> bytes:
    return _dumps({K_COMMAND_ID: ack.command_id, K_LEVEL: ack.level})


def decode_ack(payload: bytes) -> Ack:
    m = _loads(payload)
    return _build(
        lambda: Ack(
            command_id=_get(m, K_COMMAND_ID, "command id", int),
            level=_get(m, K_LEVEL, "level", int),
        )
    )


# -- uplinks (lamp -> controller) ------------------------------------------------------------


def encode_registration(reg: Registration) -> bytes:
    m: dict[int, Any] = {
        K_VERSION: 1,
        K_LAMP: reg.lamp_id,
        K_SEQ: reg.seq,
        K_ZONE: reg.zone,
        K_LATITUDE: reg.latitude,
        K_LONGITUDE: reg.longitude,
        K_WATTAGE: reg.wattage,
        K_REPORT_PERIOD_S: reg.report_period_s,
    }
    if reg.cell:
        m[K_CELL] = reg.cell
    if reg.firmware:
        m[K_FIRMWARE] = reg.firmware
    if reg.queue_mode:
        m[K_QUEUE_MODE] = True
    return _dumps(m)


def decode_registration(payload: bytes) -> Registration:
    m = _loads(payload)
    version = _opt(m, K_VERSION, "protocol version", int, 1)
    if version != 1:
        raise ProtocolError(f"protocol version {version} is not supported (this is 1)")
    return _build(
        lambda: Registration(
            lamp_id=_get(m, K_LAMP, "lamp id", str),
            seq=_get(m, K_SEQ, "sequence number", int),
            zone=_get(m, K_ZONE, "zone", str),
            latitude=_get(m, K_LATITUDE, "latitude", (int, float)),
            longitude=_get(m, K_LONGITUDE, "longitude", (int, float)),
            wattage=_get(m, K_WATTAGE, "wattage", (int, float)),
            cell=_text(m, K_CELL, "cell"),
            firmware=_text(m, K_FIRMWARE, "firmware"),
            report_period_s=_opt(m, K_REPORT_PERIOD_S, "report period", int, 60),
            queue_mode=_opt(m, K_QUEUE_MODE, "queue mode", bool, False),
        )
    )


def encode_report(report: StateReport) -> bytes:
    m: dict[int, Any] = {
        K_LAMP: report.lamp_id,
        K_SEQ: report.seq,
        K_LEVEL: report.level,
        K_POWER_W: report.power_w,
        K_ENERGY_WH: report.energy_wh,
        K_BURNING_S: report.burning_s,
        K_FAULTS: sorted(int(kind) for kind in report.faults),
    }
    if report.voltage_v is not None:
        m[K_VOLTAGE_V] = report.voltage_v
    if report.last_command_id is not None:
        m[K_COMMAND_ID] = report.last_command_id
    return _dumps(m)


def _fault_kinds(codes: list[Any]) -> frozenset[FaultKind]:
    kinds: set[FaultKind] = set()
    for code in codes:
        _typed(code, K_FAULTS, "fault code", int)
        kinds.add(_lamp_fault(code))
    return frozenset(kinds)


def _lamp_fault(code: int) -> FaultKind:
    try:
        kind = FaultKind(code)
    except ValueError as err:
        raise ProtocolError(f"unknown fault code {code}") from err
    if kind.inferred:
        raise ProtocolError(f"fault code {code} ({kind.slug}) is inferred by the controller")
    return kind


def decode_report(payload: bytes) -> StateReport:
    m = _loads(payload)
    voltage: float | int | None = _opt(m, K_VOLTAGE_V, "voltage", (int, float, type(None)), None)
    return _build(
        lambda: StateReport(
            lamp_id=_get(m, K_LAMP, "lamp id", str),
            seq=_get(m, K_SEQ, "sequence number", int),
            level=_get(m, K_LEVEL, "level", int),
            power_w=_get(m, K_POWER_W, "power", (int, float)),
            energy_wh=_get(m, K_ENERGY_WH, "energy", (int, float)),
            burning_s=_get(m, K_BURNING_S, "burning time", int),
            voltage_v=None if voltage is None else float(voltage),
            last_command_id=_opt(m, K_COMMAND_ID, "last command id", (int, type(None)), None),
            faults=_fault_kinds(_opt(m, K_FAULTS, "faults", list, [])),
        )
    )


def encode_fault(event: FaultEvent) -> bytes:
    return _dumps(
        {
            K_LAMP: event.lamp_id,
            K_SEQ: event.seq,
            K_FAULT_KIND: int(event.kind),
            K_FAULT_ACTIVE: event.active,
        }
    )


def decode_fault(payload: bytes) -> FaultEvent:
    m = _loads(payload)
    kind = _lamp_fault(_get(m, K_FAULT_KIND, "fault kind", int))
    return _build(
        lambda: FaultEvent(
            lamp_id=_get(m, K_LAMP, "lamp id", str),
            seq=_get(m, K_SEQ, "sequence number", int),
            kind=kind,
            active=_get(m, K_FAULT_ACTIVE, "fault active", bool),
        )
    )
