"""The CoAP message codec under fuzzing: mutated datagrams of the controller's own traffic
(tests/transports/test_lean.py covers plain random bytes and generated messages).

A datagram decodes to a message or raises ``ProtocolError``; a message's accessors
(``uri_path``, ``content_format``) give a value or raise ``ProtocolError``; a message that
decodes re-encodes to a datagram that decodes to the same message."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from lighting.errors import ProtocolError
from lighting.protocol import coapwire
from lighting.protocol.coapwire import Type
from tests.fuzz.strategies import budget, coap_requests, hostile_datagrams, outcome

EXAMPLES = 400

# The extended forms of option deltas and lengths (nibbles 13, 14 and the reserved 15),
# and Uri-Path segments that are not UTF-8.
TAILS = st.sampled_from(
    [
        *(b"\xd0\x00", b"\xe0\x00\x00", b"\x0d\x00", b"\x0e\xff\xff", b"\xdd\xff\xff"),
        *(b"\xf0", b"\x0f", b"\xb1\xff", b"\xb4re\xc0\x80"),
    ]
)
datagrams = st.one_of(
    hostile_datagrams(),
    st.builds(lambda data, tail: data + tail, coap_requests(), TAILS),
)


@given(datagrams)
@budget(EXAMPLES)
# The accessors refuse these two (the lean transport must answer them: test_live_coap.py).
@example(b"\x40\x02\x00\x01\xb1\xff")  # a Uri-Path that is not UTF-8
@example(b"\x40\x02\x00\x01\xc5\x01\x02\x03\x04\x05")  # a Content-Format of 5 bytes
def test_a_datagram_decodes_or_is_refused(data: bytes) -> None:
    message = outcome(coapwire.decode, data)
    if isinstance(message, ProtocolError):
        assert message.reason
        return
    path = outcome(lambda m: m.uri_path, message)
    assert isinstance(path, tuple) or path.reason
    content_format = outcome(lambda m: m.content_format, message)
    assert content_format is None or isinstance(content_format, int) or content_format.reason
    again = coapwire.encode(message)
    assert coapwire.decode(again) == message
    assert len(again) <= len(data)


@given(datagrams)
@budget(EXAMPLES // 2)
def test_a_header_is_read_or_refused(data: bytes) -> None:
    """The endpoint reads the header of a broken datagram to reset it if confirmable."""
    try:
        mtype, code, mid = coapwire.header(data)
    except ProtocolError:
        assert len(data) < 4 or data[0] >> 6 != coapwire.VERSION
        return
    assert (mtype, code, mid) == (Type(data[0] >> 4 & 3), data[1], data[2] << 8 | data[3])
