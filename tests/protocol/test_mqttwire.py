"""MQTT 3.1.1 packets: what the lean subscriber writes, and how it reads a broker's bytes.

The encodings are checked against the bytes the OASIS specification gives and against
paho-mqtt, the reference client under aiomqtt (its own packet decoder reads ours).
"""

from __future__ import annotations

import pytest
from paho.mqtt import _packet as paho_packet
from paho.mqtt.enums import MQTTProtocolVersion

from lighting.errors import ProtocolError
from lighting.protocol.mqttwire import (
    CONNACK,
    PINGRESP,
    PUBACK,
    PUBLISH,
    Packet,
    Publish,
    connack_code,
    connect_packet,
    decode_publish,
    puback_packet,
    publish_packet,
    remaining_length,
    split,
    suback_codes,
    subscribe_packet,
)

MQTTv311 = MQTTProtocolVersion.MQTTv311


@pytest.mark.parametrize(
    ("size", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_the_remaining_length_is_the_specification_s(size: int, encoded: bytes) -> None:
    # MQTT 3.1.1, section 2.2.3, table 2.4: the edges of one to four bytes.
    assert remaining_length(size) == encoded
    packets, used = split(b"\x30" + encoded + bytes(size) + b"\xd0")
    assert used == 1 + len(encoded) + size
    assert packets == [Packet(PUBLISH, 0, bytes(size))]


def test_a_length_beyond_four_bytes_is_refused() -> None:
    with pytest.raises(ProtocolError):
        remaining_length(268_435_456)
    with pytest.raises(ProtocolError, match="more than four bytes"):
        split(b"\x30\xff\xff\xff\xff\x01")


def test_connect_carries_the_session_keepalive_and_credentials() -> None:
    packet = connect_packet(
        "ctl",
        clean_session=False,
        keepalive_s=30,
        username="city",
        password="s3cret",  # noqa: S106 - a test's
    )
    body = b"\x00\x04MQTT\x04\xc0\x00\x1e\x00\x03ctl\x00\x04city\x00\x06s3cret"
    assert packet == b"\x10" + remaining_length(len(body)) + body
    clean = connect_packet("c", clean_session=True, keepalive_s=0)
    assert clean == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x00\x00\x01c"


def test_a_password_without_a_user_name_goes_with_an_empty_one() -> None:
    # Section 3.1.2.9: no password flag without the user name flag.
    packet = connect_packet("c", clean_session=True, keepalive_s=5, password="pw")  # noqa: S106
    assert packet[9] == 0xC2
    assert packet.endswith(b"\x00\x01c\x00\x00\x00\x02pw")


def test_subscribe_and_puback_are_the_specification_s() -> None:
    assert subscribe_packet(10, "a/#", 1) == b"\x82\x08\x00\x0a\x00\x03a/#\x01"
    assert puback_packet(0x1234) == b"\x40\x02\x12\x34"
    for mid in (0, 65_536):
        with pytest.raises(ProtocolError):
            puback_packet(mid)
    with pytest.raises(ProtocolError):
        subscribe_packet(1, "a", 3)


@pytest.mark.parametrize("qos", [0, 1])
def test_paho_reads_our_publish_and_we_read_it_as_paho_does(qos: int) -> None:
    topic, payload = "city/up/centre/L1/report", b"\xa1\x00\x01"
    (packet,), _ = split(publish_packet(topic.encode(), payload, 77, qos=qos))
    theirs = paho_packet.decode_publish(packet.kind << 4 | packet.flags, packet.body, MQTTv311)
    ours = decode_publish(packet.flags, packet.body)
    assert (theirs.topic.decode(), theirs.payload, theirs.qos, theirs.mid) == (
        ours.topic,
        ours.payload,
        ours.qos,
        ours.mid,
    )
    assert (ours.topic, ours.payload, ours.mid) == (topic, payload, 77 if qos else 0)


def test_packets_are_split_whole_and_a_partial_one_waits() -> None:
    stream = (
        bytes([CONNACK << 4, 2, 0, 0])
        + publish_packet(b"t/1", b"one", 1)
        + bytes([PINGRESP << 4, 0])
        + publish_packet(b"t/2", b"two" * 100, 2)
    )
    for cut in range(len(stream) + 1):
        first, used = split(stream[:cut])
        rest, used_rest = split(stream[used:])
        assert used + used_rest == len(stream)
        assert [packet.kind for packet in first + rest] == [CONNACK, PUBLISH, PINGRESP, PUBLISH]


def test_a_publish_is_decoded_at_each_qos() -> None:
    packets, _ = split(publish_packet(b"t/x", b"data", 9) + publish_packet(b"t/y", b"", 0, qos=0))
    assert decode_publish(packets[0].flags, packets[0].body) == Publish(
        "t/x", b"data", 1, 9, False, False
    )
    assert decode_publish(packets[1].flags, packets[1].body) == Publish(
        "t/y", b"", 0, 0, False, False
    )
    retained_dup = decode_publish(0b1011, b"\x00\x01t\x00\x05p")
    assert (retained_dup.retain, retained_dup.dup, retained_dup.mid) == (True, True, 5)


@pytest.mark.parametrize(
    ("flags", "body", "why"),
    [
        (0b0110, b"\x00\x01t\x00\x01", "QoS 3"),
        (0b1000, b"\x00\x01tp", "QoS 0 marked DUP"),
        (0b0010, b"\x00\x05t", "too short"),
        (0b0010, b"\x00\x01t\x00", "too short"),
        (0b0000, b"\x00\x09t", "too short"),
        (0b0010, b"\x00\x01t\x00\x00", "packet id 0"),
        (0b0010, b"\x00\x01\xff\x00\x01", "not UTF-8"),
        (0b0010, b"\x00\x00\x00\x01", "without a topic"),
        (0b0010, b"\x00\x02t\x00\x00\x01", "U\\+0000"),
    ],
)
def test_a_broken_publish_is_a_protocol_error(flags: int, body: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        decode_publish(flags, body)


def test_connack_and_suback_answers() -> None:
    assert connack_code(b"\x00\x05") == 5
    with pytest.raises(ProtocolError):
        connack_code(b"\x00")
    assert suback_codes(b"\x00\x01\x01\x80") == [1, 0x80]
    for short in (b"\x00", b"\x00\x01"):
        with pytest.raises(ProtocolError):
            suback_codes(short)
    assert split(bytes([PUBACK << 4, 2, 0, 7])) == ([Packet(PUBACK, 0, b"\x00\x07")], 4)
