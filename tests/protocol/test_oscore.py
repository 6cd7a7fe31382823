"""OSCORE: the test vectors of RFC 8613 Appendix C, round trips, every refusal, and
interoperation with aiocoap's OSCORE (the reference) in both directions."""

from __future__ import annotations

import pytest
from aiocoap import Message as AioMessage
from aiocoap import oscore as aio_oscore
from aiocoap.message import Direction
from aiocoap.numbers import types as aio_types
from aiocoap.numbers.codes import Code
from hypothesis import given
from hypothesis import strategies as st

from lighting.protocol import coapwire as coap
from lighting.protocol.coapwire import Message, Option, Type
from lighting.protocol.oscore import (
    EchoRequiredError,
    OscoreError,
    ReplayWindow,
    RequestId,
    SecurityContext,
    derive,
    echo_challenge,
    parse_option,
    request_kid,
)

SECRET = bytes.fromhex("0102030405060708090a0b0c0d0e0f10")
SALT = bytes.fromhex("9e7ca92223786340")


def client(**kwargs: object) -> SecurityContext:
    """The client of RFC 8613 C.1.1 (Sender ID empty, Recipient ID 01)."""
    return SecurityContext(b"", b"\x01", SECRET, SALT, **kwargs)  # type: ignore[arg-type]


def server(**kwargs: object) -> SecurityContext:
    """The server of C.1.2, with a fresh replay window."""
    kwargs.setdefault("window", ReplayWindow())
    return SecurityContext(b"\x01", b"", SECRET, SALT, **kwargs)  # type: ignore[arg-type]


# -- RFC 8613, Appendix C ---------------------------------------------------------------------


def test_c1_key_derivation() -> None:
    assert derive(SECRET, SALT, b"", "Key", 16).hex() == "f0910ed7295e6ad4b54fc793154302ff"
    assert derive(SECRET, SALT, b"\x01", "Key", 16).hex() == "ffb14e093c94c9cac9471648b4f98710"
    assert derive(SECRET, SALT, b"", "IV", 13).hex() == "4622d4dd6d944168eefb54987c"


C4_PLAIN = "44015d1f00003974396c6f63616c686f737483747631"
C4_PROTECTED = "44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e"
C7_PLAIN = "64455d1f00003974ff48656c6c6f20576f726c6421"
C7_PROTECTED = "64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106"


def _protect(
    message: Message, sealed_code: int, options: tuple[tuple[int, bytes], ...], payload: bytes
) -> bytes:
    return coap.encode(
        Message(message.mtype, sealed_code, message.mid, message.token, options, payload)
    )


def test_c4_request_and_c7_response() -> None:
    plain = coap.decode(bytes.fromhex(C4_PLAIN))
    sealed = client(sequence=20).protect_request(plain.code, plain.options, plain.payload)
    assert _protect(plain, sealed.code, sealed.options, sealed.payload).hex() == C4_PROTECTED

    protected = coap.decode(bytes.fromhex(C4_PROTECTED))
    srv = server()
    opened = srv.unprotect_request(protected.options, protected.payload)
    assert (opened.code, opened.options) == (coap.GET, ((Option.URI_PATH, b"tv1"),))

    answer = coap.decode(bytes.fromhex(C7_PLAIN))
    response = srv.protect_response(opened.request_id, answer.code, answer.options, answer.payload)
    assert _protect(answer, response.code, response.options, response.payload).hex() == C7_PROTECTED
    assert srv.sequence == 0, "a response that reuses the request's nonce takes no number"

    back = client().unprotect_response(sealed.request_id, response.options, response.payload)
    assert (back.code, back.payload) == (coap.CONTENT, b"Hello World!")


def test_c8_response_with_its_own_partial_iv() -> None:
    srv = server()
    stale = RequestId(b"", b"\x14", fresh=False)
    sealed = srv.protect_response(stale, coap.CONTENT, (), b"Hello World!")
    assert sealed.options == ((Option.OSCORE, bytes.fromhex("0100")),)
    assert sealed.payload.hex() == "4d4c13669384b67354b2b6175ff4b8658c666a6cf88e"


# -- round trips and refusals ------------------------------------------------------------------


def _exchange(cli: SecurityContext, srv: SecurityContext, payload: bytes) -> bytes:
    sealed = cli.protect_request(coap.POST, ((Option.URI_PATH, b"report"),), payload)
    opened = srv.unprotect_request(sealed.options, sealed.payload)
    reply = srv.protect_response(opened.request_id, coap.CHANGED, (), opened.payload[::-1])
    return cli.unprotect_response(sealed.request_id, reply.options, reply.payload).payload


@given(st.binary(max_size=600))
def test_round_trip(payload: bytes) -> None:
    assert _exchange(client(), server(), payload) == payload[::-1]


def test_a_replay_is_refused_and_an_old_number_too() -> None:
    cli, srv = client(), server()
    first = cli.protect_request(coap.POST, (), b"a")
    srv.unprotect_request(first.options, first.payload)
    with pytest.raises(OscoreError) as refused:
        srv.unprotect_request(first.options, first.payload)
    assert (refused.value.code, refused.value.why) == ("4.01", "replay")
    for _ in range(40):  # the window moves on past the first number
        sealed = cli.protect_request(coap.POST, (), b"b")
        srv.unprotect_request(sealed.options, sealed.payload)
    with pytest.raises(OscoreError, match="replayed"):
        srv.unprotect_request(first.options, first.payload)


def test_numbers_out_of_order_within_the_window_are_taken() -> None:
    cli, srv = client(), server()
    sealed = [cli.protect_request(coap.POST, (), bytes([i])) for i in range(10)]
    for message in reversed(sealed):
        assert srv.unprotect_request(message.options, message.payload).payload


def test_tampering_a_wrong_key_and_another_kid_are_refused() -> None:
    sealed = client().protect_request(coap.POST, (), b"level=40")
    flipped = bytes([sealed.payload[0] ^ 1]) + sealed.payload[1:]
    with pytest.raises(OscoreError) as refused:
        server().unprotect_request(sealed.options, flipped)
    assert (refused.value.code, refused.value.why) == ("4.01", "bad-tag")
    other = SecurityContext(b"\x01", b"", bytes(16), SALT, window=ReplayWindow())
    with pytest.raises(OscoreError, match="does not authenticate"):
        other.unprotect_request(sealed.options, sealed.payload)
    stranger = SecurityContext(b"\x07", b"\x01", SECRET, SALT).protect_request(coap.POST, (), b"x")
    with pytest.raises(OscoreError) as unknown:
        server().unprotect_request(stranger.options, stranger.payload)
    assert unknown.value.why == "unknown-kid"


def test_unprotected_and_malformed() -> None:
    with pytest.raises(OscoreError) as plain:
        server().unprotect_request(((Option.URI_PATH, b"report"),), b"x")
    assert (plain.value.code, plain.value.why) == ("4.01", "unprotected")
    for value in (b"\x20", b"\x06" + bytes(6), b"\x03\x01", b"\x11\x01", b"\x01\x01\x02"):
        with pytest.raises(OscoreError) as bad:
            parse_option(value)
        assert (bad.value.code, bad.value.why) == ("4.02", "malformed")
    with pytest.raises(OscoreError, match="without a kid"):
        request_kid(b"\x01\x05")
    assert request_kid(b"\x09\x14\x2a") == b"\x2a"


def test_echo_rebuilds_a_lost_replay_window() -> None:
    cli = client()
    srv = server(window=None, echo=b"E" * 8)
    sealed = cli.protect_request(coap.POST, ((Option.URI_PATH, b"report"),), b"r1")
    with pytest.raises(EchoRequiredError) as challenge:
        srv.unprotect_request(sealed.options, sealed.payload)
    answer = srv.protect_response(
        challenge.value.request_id, coap.UNAUTHORIZED, ((Option.ECHO, challenge.value.echo),)
    )
    assert answer.options[-1][1][0] != 0, "the 4.01 carries a Partial IV of its own"
    opened = cli.unprotect_response(sealed.request_id, answer.options, answer.payload)
    echo = echo_challenge(opened)
    assert echo == b"E" * 8
    again = cli.protect_request(
        coap.POST, ((Option.URI_PATH, b"report"), (Option.ECHO, echo)), b"r1"
    )
    assert srv.unprotect_request(again.options, again.payload).payload == b"r1"
    assert srv.window is not None
    assert not srv.window.is_fresh(0)
    with pytest.raises(OscoreError, match="replayed"):
        srv.unprotect_request(again.options, again.payload)


def test_sequence_numbers_are_reserved_before_use() -> None:
    reserved: list[int] = []

    def reserve(context: SecurityContext) -> None:
        context.limit = context.sequence + 3
        reserved.append(context.limit)

    cli = client(limit=0, reserve=reserve)
    for _ in range(7):
        cli.protect_request(coap.POST, (), b"")
    assert reserved == [3, 6, 9]

    def refuse(context: SecurityContext) -> None:
        pass

    stuck = client(limit=0, reserve=refuse)
    with pytest.raises(OscoreError) as refused:
        stuck.protect_request(coap.POST, (), b"")
    assert (refused.value.code, refused.value.why) == ("5.03", "exhausted")
    assert stuck.sequence == 0


def test_repr_shows_no_secret() -> None:
    text = repr(client())
    assert SECRET.hex() not in text
    assert "f0910ed7" not in text


# -- interoperation with aiocoap ---------------------------------------------------------------


class _AioContext(aio_oscore.CanProtect, aio_oscore.CanUnprotect, aio_oscore.SecurityContextUtils):
    """aiocoap's own protection, kept in memory (its file-backed context needs a directory)."""

    def __init__(self, sender_id: bytes, recipient_id: bytes) -> None:
        self.alg_aead = aio_oscore.algorithms["AES-CCM-16-64-128"]
        self.hashfun = aio_oscore.hashfunctions["sha256"]
        self.sender_id = sender_id
        self.recipient_id = recipient_id
        self.id_context = None
        self.derive_keys(SALT, SECRET)
        self.sender_sequence_number = 5
        self.recipient_replay_window = aio_oscore.ReplayWindow(32, lambda: None)
        self.recipient_replay_window.initialize_empty()
        self.echo_recovery = None

    def post_seqnoincrease(self) -> None:
        pass


def _to_aiocoap(datagram: bytes) -> AioMessage:
    message = AioMessage.decode(datagram)
    message.direction = Direction.INCOMING
    return message


def test_aiocoap_protects_and_we_open_and_answer() -> None:
    theirs = _AioContext(b"\x2a", b"")
    request = AioMessage(code=Code.POST, uri_path=["report"], payload=b"from aiocoap")
    request.direction = Direction.OUTGOING
    outer, request_id = theirs.protect(request)
    outer.mid, outer.token, outer.mtype = 7, b"tk", aio_types.CON
    datagram = outer.encode()
    ours = SecurityContext(b"", b"\x2a", SECRET, SALT, window=ReplayWindow())
    message = coap.decode(datagram)
    assert request_kid(message.option_values(Option.OSCORE)[0]) == b"\x2a"
    opened = ours.unprotect_request(message.options, message.payload)
    assert (opened.code, opened.payload) == (coap.POST, b"from aiocoap")
    assert opened.option_values(Option.URI_PATH) == [b"report"]

    reply = ours.protect_response(opened.request_id, coap.CHANGED, (), b"ok")
    answer = coap.encode(Message(Type.ACK, reply.code, 7, b"tk", reply.options, reply.payload))
    plain, _ = theirs.unprotect(_to_aiocoap(answer), request_id)
    assert (plain.code, plain.payload) == (Code.CHANGED, b"ok")


def test_we_protect_and_aiocoap_opens_and_answers() -> None:
    ours = SecurityContext(b"", b"\x2a", SECRET, SALT)
    sealed = ours.protect_request(
        coap.PUT, ((Option.URI_PATH, b"cmd"), (Option.CONTENT_FORMAT, b"\x3c")), b"\xa1\x01\x02"
    )
    datagram = coap.encode(Message(Type.CON, sealed.code, 9, b"t", sealed.options, sealed.payload))
    theirs = _AioContext(b"\x2a", b"")
    plain, request_id = theirs.unprotect(_to_aiocoap(datagram), None)
    assert (plain.code, list(plain.opt.uri_path), plain.payload) == (
        Code.PUT,
        ["cmd"],
        b"\xa1\x01\x02",
    )

    response = AioMessage(code=Code.CHANGED, payload=b"ack")
    response.direction = Direction.OUTGOING
    outer, _ = theirs.protect(response, request_id)
    outer.mid, outer.token, outer.mtype = 9, b"t", aio_types.ACK
    message = coap.decode(outer.encode())
    opened = ours.unprotect_response(sealed.request_id, message.options, message.payload)
    assert (opened.code, opened.payload) == (coap.CHANGED, b"ack")
