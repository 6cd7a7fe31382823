"""MQTT 3.1.1 packets on the wire (OASIS MQTT 3.1.1, sections 2 and 3): what a subscriber of
QoS 1 messages sends and reads. Pure.

The controller's lean MQTT subscriber (``lighting.transports.mqtt_lean``) is built on this,
and so is the benchmark's platform (``bench.mqtt_platform``); aiomqtt, over paho-mqtt, stays
the reference client the tests check the subscriber against. Only the packet format is here:
the fixed header and its remaining length, CONNECT, SUBSCRIBE, PUBLISH, PUBACK, PINGREQ and
DISCONNECT out, and the packets a broker sends back split and decoded. Sessions, keep-alive
and acknowledgement order belong to the client.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from lighting.errors import ProtocolError

CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
SUBSCRIBE: Final = 8
SUBACK: Final = 9
PINGREQ: Final = 12
PINGRESP: Final = 13
DISCONNECT: Final = 14

PROTOCOL_LEVEL: Final = 4
"""MQTT 3.1.1 (section 3.1.2.2)."""
MAX_REMAINING: Final = 268_435_455
"""The largest remaining length four bytes can say (section 2.2.3)."""
MAX_PACKET_ID: Final = 0xFFFF

PINGREQ_PACKET: Final = bytes([PINGREQ << 4, 0])
DISCONNECT_PACKET: Final = bytes([DISCONNECT << 4, 0])

CONNACK_REASONS: Final = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}
"""CONNACK return codes other than 0, accepted (section 3.2.2.3)."""
SUBACK_FAILURE: Final = 0x80


class Packet(NamedTuple):
    """A whole packet read from the broker: its type, the flags of its first byte, its body."""

    kind: int
    flags: int
    body: bytes


class Publish(NamedTuple):
    """A PUBLISH from the broker. ``mid`` is 0 at QoS 0 (which has no packet id)."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
    dup: bool


def remaining_length(size: int) -> bytes:
    """The variable-length encoding of a packet's remaining length (section 2.2.3)."""
    if not 0 <= size <= MAX_REMAINING:
        raise ProtocolError(f"an MQTT packet of {size} bytes is beyond 0..{MAX_REMAINING}")
    out = bytearray()
    while True:
        size, digit = divmod(size, 128)
        out.append(digit | (0x80 if size else 0))
        if not size:
            return bytes(out)


def _string(text: bytes) -> bytes:
    if len(text) > 0xFFFF:
        raise ProtocolError(f"an MQTT string of {len(text)} bytes is longer than 65,535")
    return len(text).to_bytes(2, "big") + text


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + remaining_length(len(body)) + body


def _packet_id(mid: int) -> bytes:
    if not 0 < mid <= MAX_PACKET_ID:
        raise ProtocolError(f"packet id {mid} is not in 1..{MAX_PACKET_ID}")
    return mid.to_bytes(2, "big")


def connect_packet(
    client_id: str,
    *,
    clean_session: bool,
    keepalive_s: int,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT (section 3.1). A password without a user name goes with an empty one: 3.1.1
    allows no password flag without the user name flag (section 3.1.2.9)."""
    if not 0 <= keepalive_s <= 0xFFFF:
        raise ProtocolError(f"keep-alive {keepalive_s} s is not in 0..65535")
    if password is not None and username is None:
        username = ""
    flags = (0x02 if clean_session else 0) | (0x80 if username is not None else 0)
    flags |= 0x40 if password is not None else 0
    body = _string(b"MQTT") + bytes([PROTOCOL_LEVEL, flags]) + keepalive_s.to_bytes(2, "big")
    body += _string(client_id.encode())
    if username is not None:
        body += _string(username.encode())
    if password is not None:
        body += _string(password.encode())
    return _packet(CONNECT << 4, body)


def subscribe_packet(mid: int, topic_filter: str, qos: int) -> bytes:
    """SUBSCRIBE to one filter (section 3.8)."""
    if qos not in (0, 1, 2):
        raise ProtocolError(f"QoS {qos} is not 0, 1 or 2")
    body = _packet_id(mid) + _string(topic_filter.encode()) + bytes([qos])
    return _packet(SUBSCRIBE << 4 | 0b0010, body)


def publish_packet(topic: bytes, payload: bytes, mid: int, *, qos: int = 1) -> bytes:
    """PUBLISH at QoS 1 (or 2) with packet id ``mid``, or at QoS 0 with none (section 3.3)."""
    if qos not in (0, 1, 2):
        raise ProtocolError(f"QoS {qos} is not 0, 1 or 2")
    body = _string(topic) + (_packet_id(mid) if qos else b"") + payload
    return _packet(PUBLISH << 4 | qos << 1, body)


def puback_packet(mid: int) -> bytes:
    """PUBACK of the QoS 1 message ``mid`` (section 3.4)."""
    return bytes([PUBACK << 4, 2]) + _packet_id(mid)


def split(buffer: bytes | bytearray) -> tuple[list[Packet], int]:
    """The whole packets at the start of ``buffer``, and how many bytes they take; a packet
    that has not all arrived is left for the next call. ``ProtocolError`` for a remaining
    length of more than four bytes (section 2.2.3)."""
    packets: list[Packet] = []
    at, end = 0, len(buffer)
    while at + 1 < end:
        size, shift, index = 0, 0, at + 1
        while True:
            if index >= end:
                return packets, at
            digit = buffer[index]
            size |= (digit & 0x7F) << shift
            index += 1
            if not digit & 0x80:
                break
            shift += 7
            if shift > 21:
                raise ProtocolError("an MQTT remaining length of more than four bytes")
        if index + size > end:
            break
        first = buffer[at]
        packets.append(Packet(first >> 4, first & 0x0F, bytes(buffer[index : index + size])))
        at = index + size
    return packets, at


def decode_publish(flags: int, body: bytes) -> Publish:
    """The PUBLISH with fixed-header ``flags`` and ``body`` (section 3.3). ``ProtocolError``
    for QoS 3, DUP at QoS 0, an empty topic, a body too short for its topic and packet id,
    or a topic that is not UTF-8 or holds U+0000."""
    qos = flags >> 1 & 0b11
    if qos == 3:
        raise ProtocolError("a PUBLISH at QoS 3")
    if not qos and flags & 0b1000:
        raise ProtocolError("a PUBLISH at QoS 0 marked DUP")  # [MQTT-3.3.1-2]
    length = int.from_bytes(body[:2], "big")
    if not length:
        raise ProtocolError("a PUBLISH without a topic")  # section 4.7.3
    start = 2 + length
    if qos:
        if len(body) < start + 2:
            raise ProtocolError("a PUBLISH too short for its topic and packet id")
        mid = int.from_bytes(body[start : start + 2], "big")
        if not mid:
            raise ProtocolError("a PUBLISH at QoS 1 or 2 with packet id 0")
        payload_at = start + 2
    else:
        if len(body) < start:
            raise ProtocolError("a PUBLISH too short for its topic")
        mid, payload_at = 0, start
    try:
        topic = body[2:start].decode()
    except UnicodeDecodeError as err:
        raise ProtocolError(f"a PUBLISH topic that is not UTF-8: {err}") from err
    if "\x00" in topic:
        raise ProtocolError("a PUBLISH topic holding U+0000")  # section 4.7.3
    return Publish(topic, body[payload_at:], qos, mid, bool(flags & 1), bool(flags & 0b1000))


def packet_id(body: bytes) -> int:
    """The packet id that starts ``body`` (PUBACK, SUBACK)."""
    if len(body) < 2:
        raise ProtocolError(f"a packet body of {len(body)} bytes has no packet id")
    return int.from_bytes(body[:2], "big")


def connack_code(body: bytes) -> int:
    """The return code of a CONNACK (section 3.2.2.3)."""
    if len(body) != 2:
        raise ProtocolError(f"a CONNACK of {len(body)} bytes, not 2")
    return body[1]


def suback_codes(body: bytes) -> list[int]:
    """The QoS granted per filter of a SUBACK, or ``SUBACK_FAILURE`` (section 3.9.3)."""
    packet_id(body)
    if len(body) < 3:
        raise ProtocolError("a SUBACK without a return code")
    return list(body[2:])
