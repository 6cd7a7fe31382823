"""CoAP messages on the wire (RFC 7252, section 3): bytes to ``Message`` and back. Pure.

The lean CoAP path of the controller (``lighting.transports.lean``) is built on this; aiocoap
stays the reference implementation the tests check it against. Only the message format is
here: header, token, options (delta-encoded), payload marker. Which options a message may
carry, retransmission and deduplication belong to the endpoint.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from lighting.errors import ProtocolError

VERSION: Final = 1
MAX_TOKEN: Final = 8
PAYLOAD_MARKER: Final = 0xFF


class Type(enum.IntEnum):
    CON = 0
    NON = 1
    ACK = 2
    RST = 3


_TYPES = tuple(sorted(Type))
"""The types by their value: a lookup, where ``Type(value)`` costs a call into enum for
every datagram."""


def code(klass: int, detail: int) -> int:
    """The code ``klass.detail`` as its byte (``code(2, 4)`` is 2.04 Changed)."""
    return klass << 5 | detail


def code_text(value: int) -> str:
    """The code as people write it: ``2.04``."""
    return f"{value >> 5}.{value & 0x1F:02d}"


def code_of(text: str) -> int:
    """The code written as people write it (``"4.01"``) as its byte."""
    klass, _, detail = text.partition(".")
    return code(int(klass), int(detail))


EMPTY: Final = 0
GET: Final = code(0, 1)
POST: Final = code(0, 2)
PUT: Final = code(0, 3)
DELETE: Final = code(0, 4)
CREATED: Final = code(2, 1)
CHANGED: Final = code(2, 4)
CONTENT: Final = code(2, 5)
BAD_REQUEST: Final = code(4, 0)
UNAUTHORIZED: Final = code(4, 1)
BAD_OPTION: Final = code(4, 2)
NOT_FOUND: Final = code(4, 4)
METHOD_NOT_ALLOWED: Final = code(4, 5)
REQUEST_ENTITY_TOO_LARGE: Final = code(4, 13)
UNSUPPORTED_CONTENT_FORMAT: Final = code(4, 15)
INTERNAL_SERVER_ERROR: Final = code(5, 0)
SERVICE_UNAVAILABLE: Final = code(5, 3)


class Option(enum.IntEnum):
    """The options of RFC 7252 that an endpoint must recognise, with Block (RFC 7959),
    OSCORE (RFC 8613) and Echo (RFC 9175)."""

    IF_MATCH = 1
    URI_HOST = 3
    ETAG = 4
    IF_NONE_MATCH = 5
    OBSERVE = 6
    URI_PORT = 7
    LOCATION_PATH = 8
    OSCORE = 9
    URI_PATH = 11
    CONTENT_FORMAT = 12
    MAX_AGE = 14
    URI_QUERY = 15
    ACCEPT = 17
    LOCATION_QUERY = 20
    BLOCK2 = 23
    BLOCK1 = 27
    SIZE2 = 28
    PROXY_URI = 35
    PROXY_SCHEME = 39
    SIZE1 = 60
    ECHO = 252


def is_critical(number: int) -> bool:
    """Critical options (odd numbers) must be understood or the message rejected."""
    return number & 1 == 1


@dataclass(frozen=True, slots=True)
class Message:
    mtype: Type
    code: int
    mid: int
    token: bytes = b""
    options: tuple[tuple[int, bytes], ...] = ()
    """(number, value) pairs in the order of their numbers."""
    payload: bytes = b""

    @property
    def is_request(self) -> bool:
        return 1 <= self.code <= 31

    @property
    def is_response(self) -> bool:
        return self.code >= 64

    @property
    def is_empty(self) -> bool:
        return self.code == EMPTY

    def option_values(self, number: int) -> list[bytes]:
        return [value for n, value in self.options if n == number]

    @property
    def uri_path(self) -> tuple[str, ...]:
        """The Uri-Path segments; ``ProtocolError`` if one is not UTF-8."""
        try:
            return tuple(value.decode() for value in self.option_values(Option.URI_PATH))
        except UnicodeDecodeError as err:
            raise ProtocolError("a Uri-Path segment is not UTF-8") from err

    @property
    def content_format(self) -> int | None:
        values = self.option_values(Option.CONTENT_FORMAT)
        return decode_uint(values[0]) if values else None


def encode_uint(value: int) -> bytes:
    """An option's unsigned integer in as few bytes as it needs (0 is no bytes)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""


def decode_uint(raw: bytes) -> int:
    if len(raw) > 4:
        raise ProtocolError(f"an integer option of {len(raw)} bytes")
    return int.from_bytes(raw, "big")


def path_options(path: Sequence[str]) -> tuple[tuple[int, bytes], ...]:
    return tuple((Option.URI_PATH, segment.encode()) for segment in path)


def _extended(value: int) -> tuple[int, bytes]:
    """The 4-bit nibble and the extension bytes of an option delta or length."""
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes([value - 13])
    return 14, (value - 269).to_bytes(2, "big")


def encode(message: Message) -> bytes:
    """The datagram of ``message``."""
    if not 0 <= message.mid <= 0xFFFF:
        raise ValueError(f"message id {message.mid} is not 16 bits")
    if len(message.token) > MAX_TOKEN:
        raise ValueError(f"a token of {len(message.token)} bytes is over {MAX_TOKEN}")
    out = bytearray(
        (
            VERSION << 6 | message.mtype << 4 | len(message.token),
            message.code,
            message.mid >> 8,
            message.mid & 0xFF,
        )
    )
    out += message.token
    out += _options(message.options)
    if message.payload:
        out.append(PAYLOAD_MARKER)
        out += message.payload
    return bytes(out)


def _options(options: Iterable[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    previous = 0
    for number, value in sorted(options, key=lambda option: option[0]):
        delta, delta_ext = _extended(number - previous)
        length, length_ext = _extended(len(value))
        out.append(delta << 4 | length)
        out += delta_ext
        out += length_ext
        out += value
        previous = number
    return bytes(out)


def encode_options(options: Iterable[tuple[int, bytes]], payload: bytes = b"") -> bytes:
    """Options (delta-encoded, in the order of their numbers) and the payload after its
    marker: a message's tail, as OSCORE encrypts it (RFC 8613, section 5.3)."""
    tail = _options(options)
    return tail + bytes((PAYLOAD_MARKER,)) + payload if payload else tail


def _read_extended(nibble: int, data: bytes, at: int) -> tuple[int, int]:
    if nibble < 13:
        return nibble, at
    if nibble == 13:
        if at + 1 > len(data):
            raise ProtocolError("an option is cut short")
        return data[at] + 13, at + 1
    if nibble == 14:
        if at + 2 > len(data):
            raise ProtocolError("an option is cut short")
        return int.from_bytes(data[at : at + 2], "big") + 269, at + 2
    raise ProtocolError("an option nibble of 15 outside the payload marker")


def header(data: bytes) -> tuple[Type, int, int]:
    """Type, code and message id of a datagram that is at least a CoAP header (to reset a
    confirmable message whose rest is broken); ``ProtocolError`` otherwise."""
    if len(data) < 4 or data[0] >> 6 != VERSION:
        raise ProtocolError("not a CoAP datagram")
    return _TYPES[data[0] >> 4 & 3], data[1], data[2] << 8 | data[3]


def decode(data: bytes) -> Message:
    """The message in ``data``; ``ProtocolError`` if it breaks the format (section 3)."""
    mtype, code_byte, mid = header(data)
    tkl = data[0] & 0x0F
    if tkl > MAX_TOKEN:
        raise ProtocolError(f"token length {tkl} is reserved")
    if 4 + tkl > len(data):
        raise ProtocolError("the token is cut short")
    token = data[4 : 4 + tkl]
    if code_byte == EMPTY and (tkl or len(data) > 4):
        raise ProtocolError("an empty message with a token or content")
    if code_byte >= 224 or 32 <= code_byte < 64:
        raise ProtocolError(f"code {code_text(code_byte)} is reserved")
    options, payload = _read_options(data, 4 + tkl)
    return Message(mtype, code_byte, mid, token, options, payload)


def decode_options(data: bytes) -> tuple[tuple[tuple[int, bytes], ...], bytes]:
    """The options and payload of a message's tail (``encode_options``); ``ProtocolError``
    if it breaks the format."""
    return _read_options(data, 0)


def _read_options(data: bytes, at: int) -> tuple[tuple[tuple[int, bytes], ...], bytes]:
    number, options = 0, []
    payload = b""
    while at < len(data):
        first = data[at]
        at += 1
        if first == PAYLOAD_MARKER:
            payload = data[at:]
            if not payload:
                raise ProtocolError("a payload marker with no payload")
            break
        delta, at = _read_extended(first >> 4, data, at)
        length, at = _read_extended(first & 0x0F, data, at)
        if at + length > len(data):
            raise ProtocolError("an option value is cut short")
        number += delta
        options.append((number, data[at : at + length]))
        at += length
    return tuple(options), payload


def unknown_critical(message: Message, known: Iterable[int]) -> int | None:
    """The first critical option of ``message`` not in ``known``, or None."""
    understood = known if isinstance(known, frozenset | set) else set(known)
    for number, _ in message.options:
        if is_critical(number) and number not in understood:
            return number
    return None


def bad_option(message: Message, known: frozenset[int]) -> int | None:
    """The first option of a request that a server must refuse with 4.02, or None: a
    critical option not in ``known``, or an option whose value the server cannot read (a
    Uri-Path segment that is not UTF-8, a Content-Format of over 4 bytes), which section
    5.4.3 treats as an unrecognized option rather than guess a path or a payload's format.
    One pass over the options: every request of a burst goes through it."""
    for number, value in message.options:
        if number & 1 and number not in known:
            return number
        if number == Option.URI_PATH:
            try:
                value.decode()
            except UnicodeDecodeError:
                return number
        elif number == Option.CONTENT_FORMAT and len(value) > 4:
            return number
    return None
