"""Encoding CoAP messages: options in the order of their numbers, the payload after its
marker, whatever the option values are held in (tests/fuzz/test_coapwire.py fuzzes
decoding)."""

from __future__ import annotations

from lighting.protocol import coapwire
from lighting.protocol.coapwire import Message, Option, Type, decode, encode, encode_options

COMMAND = ((Option.URI_PATH, b"lamp"), (Option.URI_PATH, b"level"), (Option.CONTENT_FORMAT, b"<"))


def test_one_set_of_options_with_different_payloads_encodes_each_payload() -> None:
    first = Message(Type.CON, coapwire.code(0, 3), 7, b"\x01", COMMAND, b"\xa1\x01\x02")
    second = Message(Type.CON, coapwire.code(0, 3), 8, b"\x02", COMMAND, b"\xa1\x01\x03")
    third = Message(Type.ACK, coapwire.code(2, 4), 9, b"\x03", COMMAND)
    for message in (first, second, first, third):
        assert decode(encode(message)) == message
    # The tail is the options, the marker and the payload, as OSCORE encrypts it.
    assert encode(first).endswith(encode_options(COMMAND, first.payload))
    assert not encode(third).endswith(b"\xff")


def test_options_go_out_in_the_order_of_their_numbers() -> None:
    unordered = ((Option.CONTENT_FORMAT, b"<"), (Option.URI_PATH, b"lamp"))
    message = Message(Type.NON, coapwire.code(0, 2), 1, b"", unordered, b"x")
    assert decode(encode(message)).options == tuple(sorted(unordered, key=lambda o: o[0]))


def test_sets_that_never_repeat_are_encoded_right() -> None:
    """Like an OSCORE option's sequence numbers: a new set of options every message."""
    for seq in range(300):
        options = ((Option.OSCORE, b"\x09" + seq.to_bytes(2, "big")), (Option.URI_PATH, b"r"))
        message = Message(Type.CON, coapwire.code(0, 2), seq, b"", options, b"p")
        assert decode(encode(message)) == message


def test_an_option_value_that_cannot_be_a_key_is_still_encoded() -> None:
    options = ((Option.URI_PATH, bytearray(b"lamp")),)
    message = Message(Type.CON, coapwire.code(0, 1), 3, b"", options)  # type: ignore[arg-type]
    assert decode(encode(message)).options == ((Option.URI_PATH, b"lamp"),)
