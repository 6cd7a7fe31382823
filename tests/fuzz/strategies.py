"""What the fuzz tests throw: valid messages of protocol v1, and the ways to break them.

Three layers, each a Hypothesis strategy:

- valid values (registrations, reports, fault events, commands, acknowledgements) over the
  whole range the protocol allows, encoded by the codecs themselves;
- CBOR maps rebuilt item by item from raw bytes, so that a mutation can put anything where
  a value is due: huge integers and bignums, NaN and infinities, arrays and maps nested
  1,000 deep, duplicate keys, text strings that are not UTF-8, unknown tags, indefinite
  lengths, oversized items;
- byte mutations on top (truncation, bit flips, inserted, deleted and repeated bytes).

The same for the other doors: CoAP datagrams (requests as lamps send them, with valid or
hostile payloads and odd options, stray messages, bytes that are no CoAP) and the control
channel's lines. Every budget goes through ``budget``: ``CITYLIGHT_FUZZ_EXAMPLES=N``
multiplies it by N.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from typing import Any, Final, TypeVar

import cbor2
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from lighting.errors import ProtocolError
from lighting.model import (
    LEVEL_MAX,
    Ack,
    Command,
    FaultEvent,
    FaultKind,
    Registration,
    StateReport,
)
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_FAULT,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    coapwire,
    encode_ack,
    encode_command,
    encode_fault,
    encode_registration,
    encode_report,
)
from lighting.protocol.coapwire import Message, Option, Type, encode_uint, path_options
from lighting.protocol.control import OPS

_A = TypeVar("_A")
_R = TypeVar("_R")
ENV: Final = "CITYLIGHT_FUZZ_EXAMPLES"
_FACTOR: Final = max(1, int(os.environ.get(ENV, "1") or "1"))


def budget(examples: int, *, live: bool = False) -> settings:
    """Hypothesis settings for ``examples`` examples (times ``CITYLIGHT_FUZZ_EXAMPLES``).

    Live tests share one daemon between examples on purpose (the fixture is function
    scoped, the examples are not independent) and draw long batches; they do not shrink,
    which would replay examples against a daemon that has moved on."""
    suppressed = [HealthCheck.too_slow, HealthCheck.data_too_large]
    phases = list(Phase)
    if live:
        suppressed.append(HealthCheck.function_scoped_fixture)
        phases = [Phase.explicit, Phase.generate]
    return settings(
        max_examples=examples * _FACTOR,
        deadline=None,
        suppress_health_check=suppressed,
        phases=phases,
    )


def outcome(decode: Callable[[_A], _R], data: _A) -> _R | ProtocolError:
    """What ``decode`` makes of ``data``: a value, or the ``ProtocolError`` it raised (any
    other exception goes through: it fails the test)."""
    try:
        return decode(data)
    except ProtocolError as err:
        return err


# -- valid values ---------------------------------------------------------------------------

U63: Final = 2**63 - 1
LAMP_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True)
ZONES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True)
SHORT_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=64
) | st.sampled_from(["\r\n", "\u202e", "\ufeff", "\x1b[2J"])
"""Free text of up to 64 characters (a cell, a firmware): anything but NUL, which v1 refuses,
with characters terminals take badly drawn more often than chance would."""


def _number(low: float, high: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(low, high, allow_nan=False, allow_infinity=False),
        st.integers(math.ceil(low), math.floor(high)).map(float),
    )


def _uint(high: int = U63) -> st.SearchStrategy[int]:
    return st.integers(0, high)


LAMP_FAULTS = st.sampled_from([kind for kind in FaultKind if not kind.inferred])

registrations = st.builds(
    Registration,
    lamp_id=LAMP_IDS,
    seq=_uint(),
    zone=ZONES,
    latitude=_number(-90, 90),
    longitude=_number(-180, 180),
    wattage=_number(0, 5000),
    cell=SHORT_TEXT,
    firmware=SHORT_TEXT,
    report_period_s=st.integers(1, 86_400),
    queue_mode=st.booleans(),
)
reports = st.builds(
    StateReport,
    lamp_id=LAMP_IDS,
    seq=_uint(),
    level=st.integers(0, LEVEL_MAX),
    power_w=_number(0, 10_000),
    energy_wh=_number(0, 1e15),
    burning_s=_uint(),
    voltage_v=st.none() | _number(0, 1000),
    last_command_id=st.none() | _uint(),
    faults=st.frozensets(LAMP_FAULTS),
)
faults = st.builds(
    FaultEvent, lamp_id=LAMP_IDS, seq=_uint(), kind=LAMP_FAULTS, active=st.booleans()
)
commands = st.builds(
    Command, command_id=_uint(), level=st.integers(0, LEVEL_MAX), ramp_s=st.integers(0, 3600)
)
acks = st.builds(Ack, command_id=_uint(), level=st.integers(0, LEVEL_MAX))

Codec = tuple[Callable[[bytes], Any], Callable[[Any], bytes], st.SearchStrategy[Any]]
"""A decoder, its encoder and the valid values it takes."""


def valid_payloads(
    name: str, lamp_ids: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[bytes]:
    """Valid encodings of the message ``name`` (registration, report, fault, command, ack),
    from the lamps ``lamp_ids`` if given (any lamp otherwise)."""
    encoders: dict[str, tuple[Callable[[Any], bytes], st.SearchStrategy[Any]]] = {
        "registration": (encode_registration, registrations),
        "report": (encode_report, reports),
        "fault": (encode_fault, faults),
        "command": (encode_command, commands),
        "ack": (encode_ack, acks),
    }
    encode, values = encoders[name]
    if lamp_ids is not None:
        values = st.builds(dataclasses.replace, values, lamp_id=lamp_ids)
    return values.map(encode)


# -- raw CBOR -------------------------------------------------------------------------------


def head(major: int, argument: int) -> bytes:
    """The initial bytes of a CBOR item: major type and argument, shortest form."""
    if argument < 24:
        return bytes([major << 5 | argument])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if argument < 1 << (8 * size):
            return bytes([major << 5 | info]) + argument.to_bytes(size, "big")
    raise ValueError(f"{argument} does not fit a CBOR head")


def raw_map(items: list[tuple[bytes, bytes]]) -> bytes:
    """A definite map of already encoded keys and values (duplicates kept as they are)."""
    return head(5, len(items)) + b"".join(key + value for key, value in items)


def nested(depth: int, *, as_map: bool) -> bytes:
    """An array (or a map under key 0) nested ``depth`` deep around a 0."""
    return (b"\xa1\x00" if as_map else b"\x81") * depth + b"\x00"


INVALID_UTF8: Final = (
    b"\xff",
    b"\xc0\x80",  # an overlong NUL
    b"\xed\xa0\x80",  # a UTF-16 surrogate
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"L\xe2\x82",  # a sequence cut short
    b"\x80L1",  # a continuation byte first
)
TAGS: Final = (0, 1, 2, 3, 4, 5, 21, 24, 25, 28, 29, 30, 32, 35, 36, 37, 256, 258, 260, 55799)

huge_integers = st.one_of(
    st.integers(2**63, 2**64 + 1),
    st.integers(2**64, 2**2048),
    st.integers(-(2**2048), -1),
    st.sampled_from([2**1024, -(2**1024), 2**63, 2**64 - 1, -(2**64)]),
)
odd_floats = st.sampled_from(
    [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 1e16, -1.0]
)
python_values: st.SearchStrategy[Any] = st.one_of(
    huge_integers,
    odd_floats,
    st.floats(),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.just(cbor2.undefined),
    st.text(max_size=80),
    st.binary(max_size=40),
    st.lists(st.integers(-30, 30), max_size=6),
    st.dictionaries(st.integers(0, 20), st.integers(), max_size=3),
    st.builds(cbor2.CBORSimpleValue, st.integers(0, 19) | st.integers(32, 255)),
)
raw_items: st.SearchStrategy[bytes] = st.one_of(
    python_values.map(cbor2.dumps),
    st.sampled_from(INVALID_UTF8).map(lambda bad: head(3, len(bad)) + bad),
    st.builds(nested, st.sampled_from([5, 100, 999, 1000, 5000]), as_map=st.booleans()),
    # Integers in a longer form than needed (valid CBOR, not canonical).
    st.integers(0, 100).map(lambda n: b"\x1b" + n.to_bytes(8, "big")),
    # Indefinite lengths: an array, a text in chunks, a map; sometimes without the break.
    st.sampled_from([b"\x9f\x01\x02\xff", b"\x7f\x61L\x611\xff", b"\xbf\x00\x00\xff", b"\x9f\x01"]),
    # Reserved and stray initial bytes, a half-float NaN, simple values.
    st.sampled_from([b"\x1c", b"\x3f", b"\x5f\x01", b"\xfc", b"\xfe", b"\xff", b"\xf9\x7e\x00"]),
    st.builds(
        lambda tag, item: head(6, tag) + item,
        st.sampled_from(TAGS) | st.integers(0, 2**64 - 1),
        python_values.map(cbor2.dumps),
    ),
    # Oversized: one item over the 1,024-byte limit.
    st.integers(1025, 3000).map(lambda size: head(2, size) + b"\x00" * size),
)
keys: st.SearchStrategy[bytes] = st.one_of(
    st.integers(0, 25).map(cbor2.dumps),
    raw_items,
)


@st.composite
def broken_maps(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """A valid payload rebuilt as a raw map with a few of its items broken: a value replaced,
    a key dropped or repeated (duplicate keys), unknown keys added, the order shuffled."""
    decoded = cbor2.loads(draw(valid))
    items = [(cbor2.dumps(key), cbor2.dumps(value)) for key, value in decoded.items()]
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(st.sampled_from(["value", "drop", "repeat", "add", "shuffle"]))
        if operation == "add" or not items:
            items.insert(draw(st.integers(0, len(items))), (draw(keys), draw(raw_items)))
            continue
        at = draw(st.integers(0, len(items) - 1))
        key, value = items[at]
        if operation == "value":
            items[at] = (key, draw(raw_items))
        elif operation == "drop":
            del items[at]
        elif operation == "repeat":
            again = value if draw(st.booleans()) else draw(raw_items)
            items.insert(draw(st.integers(0, len(items))), (key, again))
        else:
            items = draw(st.permutations(items))
    return raw_map(items)


INTERESTING_BYTES: Final = (0x00, 0x01, 0x17, 0x18, 0x1B, 0x1F, 0x3F, 0x5F, 0x7F, 0x80, 0x9F)
INTERESTING_BYTES_HIGH: Final = (0xA0, 0xBF, 0xC2, 0xD8, 0xF4, 0xF9, 0xFB, 0xFF)


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes]) -> bytes:
    """``seeds`` after one to four byte mutations."""
    data = bytearray(draw(seeds))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(
            st.sampled_from(["truncate", "flip", "insert", "delete", "set", "repeat", "grow"])
        )
        at = draw(st.integers(0, len(data)))
        if operation == "truncate":
            del data[at:]
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "grow":  # past every size limit in one step
            data[at:at] = bytes([draw(st.integers(0, 255))]) * draw(st.integers(200, 3000))
        elif not data:
            continue
        elif operation == "flip":
            data[min(at, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        elif operation == "set":
            value = draw(st.sampled_from(INTERESTING_BYTES + INTERESTING_BYTES_HIGH))
            data[min(at, len(data) - 1)] = value
        else:
            end = min(len(data), at + draw(st.integers(1, 16)))
            data[at:at] = data[at:end]
    return bytes(data)


def hostile_payloads(
    name: str, *, random_size: int = 2000, lamp_ids: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[bytes]:
    """Everything a decoder of ``name`` must refuse or take: random bytes, broken maps,
    mutated encodings, and mutations of broken maps."""
    valid = valid_payloads(name, lamp_ids)
    broken = broken_maps(valid)
    return st.one_of(
        st.binary(max_size=random_size),
        python_values.map(cbor2.dumps),
        broken,
        broken,  # listed twice: drawn twice as often
        mutated(valid),
        mutated(valid),
        mutated(broken),
    )


# -- CoAP datagrams -------------------------------------------------------------------------

ROUTES: Final = {
    "registration": tuple(CONTROLLER_REGISTER),
    "report": tuple(CONTROLLER_REPORT),
    "fault": tuple(CONTROLLER_FAULT),
}
paths = st.sampled_from(
    [*ROUTES.values(), (".well-known", "core"), ("cmd",), ("state",), ("report", "x"), ()]
) | st.lists(st.text(max_size=12), max_size=3).map(tuple)
extra_options = st.lists(
    st.one_of(
        st.tuples(st.just(int(Option.CONTENT_FORMAT)), st.integers(0, 2**32).map(encode_uint)),
        st.tuples(st.sampled_from(list(Option)).map(int), st.binary(max_size=20)),
        st.tuples(st.integers(0, 70_000), st.binary(max_size=300)),
    ),
    max_size=3,
)
CODES = st.sampled_from([coapwire.GET, coapwire.PUT, coapwire.DELETE]) | st.integers(0, 255)
formats = st.sampled_from([CONTENT_FORMAT_CBOR] * 4 + [None, 0, 50, 11060])


@st.composite
def coap_requests(draw: st.DrawFn, lamp_ids: st.SearchStrategy[str] | None = None) -> bytes:
    """A datagram as a lamp sends it to the controller: mostly a POST of a valid or hostile
    payload to the resource it belongs to, sometimes with another path, method, type or
    content format, or with options the controller does not expect."""
    name = draw(st.sampled_from(sorted(ROUTES)))
    path = draw(st.integers(0, 4).flatmap(lambda n: st.just(ROUTES[name]) if n else paths))
    payload = draw(
        valid_payloads(name, lamp_ids)
        | hostile_payloads(name, random_size=64, lamp_ids=lamp_ids)
        | st.just(b"")
    )
    options = list(path_options(path))
    content_format = draw(formats)
    if content_format is not None:
        options.append((int(Option.CONTENT_FORMAT), encode_uint(content_format)))
    if draw(st.integers(0, 3)) == 0:
        options += draw(extra_options)
    message = Message(
        draw(st.sampled_from([Type.CON] * 7 + [Type.NON] * 2 + [Type.ACK, Type.RST])),
        draw(st.integers(0, 9).flatmap(lambda n: st.just(coapwire.POST) if n else CODES)),
        draw(st.integers(0, 0xFFFF)),
        draw(st.binary(max_size=8)),
        tuple(sorted(options, key=lambda option: option[0])),
        payload,
    )
    try:
        return coapwire.encode(message)
    except (ValueError, OverflowError):  # an option number past what a datagram can say
        return coapwire.encode(Message(message.mtype, message.code, message.mid))


stray_messages = st.builds(
    lambda mtype, code, mid, token, payload: coapwire.encode(
        Message(mtype, code, mid, token if code else b"", (), payload if code else b"")
    ),
    st.sampled_from(list(Type)),
    st.sampled_from([0, coapwire.CHANGED, coapwire.CONTENT, coapwire.BAD_REQUEST]),
    st.integers(0, 0xFFFF),
    st.binary(max_size=8),
    st.binary(max_size=20),
)
"""Pings, acknowledgements, resets and responses nobody asked for."""


def hostile_datagrams(lamp_ids: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[bytes]:
    """Everything a CoAP endpoint may receive: requests (good and bad), mutated requests,
    stray messages, and bytes that are no CoAP at all."""
    requests = coap_requests(lamp_ids)
    return st.one_of(
        requests,
        requests,
        mutated(requests),
        stray_messages,
        st.binary(max_size=64),
    )


# -- control channel lines ------------------------------------------------------------------

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
control_requests = st.fixed_dictionaries(
    {
        "id": st.integers(0, 2**31) | json_values,
        "op": st.integers(0, 4).flatmap(lambda n: st.sampled_from(OPS) if n else json_values),
    },
    optional={
        "lamp": st.sampled_from(["L1", "L2"]) | st.text(max_size=10),
        "zone": st.sampled_from(["centre", "north"]) | st.text(max_size=5) | json_values,
        "level": st.integers(-5, 105) | json_values,
        "minutes": st.floats() | st.integers(),
        "nights": st.integers(-1, 100) | json_values,
        "fault": st.integers() | json_values,
        "override": st.integers(),
        "by": st.text(max_size=10) | json_values,
        "reason": st.text(max_size=300),
        "note": st.text(max_size=600),
        "limit": st.integers() | json_values,
        "kind": st.sampled_from(["lamp-failure", "x"]) | st.text(max_size=12) | json_values,
        "severity": st.sampled_from(["major", "x"]) | json_values,
        "status": st.sampled_from(["all", "open"]) | json_values,
    },
)
_request_lines = control_requests.map(
    lambda request: json.dumps(request, ensure_ascii=False).encode()
)
control_lines = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    _request_lines,
    _request_lines,
    mutated(_request_lines),
    # Nested past any parser's stack, an integer past Python's 4,300 digits, an id nested
    # as deep as the parser takes (the answer echoes it), JSON's non-finite extensions, lone
    # surrogates, another encoding, a byte-order mark.
    st.integers(1, 200_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 150_000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.integers(4000, 6000).map(lambda digits: b'{"id":' + b"9" * digits + b"}"),
    st.integers(100, 3000).map(lambda d: b'{"op":"hello","id":' + b"[" * d + b"]" * d + b"}"),
    st.sampled_from([b'{"id":NaN}', b'{"id":-Infinity}', b'{"op":"\\ud800"}', b'"\\udfff"']),
    control_requests.map(lambda request: json.dumps(request).encode("utf-16")),
    control_requests.map(lambda request: b"\xef\xbb\xbf" + json.dumps(request).encode()),
).map(lambda line: line.replace(b"\n", b" "))
"""Lines a view may send (without their newline), valid or not; each under the channel's
limit (``MAX_LINE``), which has a test of its own."""
