"""The lean CoAP endpoint against aiocoap (the reference) and against a raw UDP peer that
plays the parts aiocoap will not: losing a datagram, answering separately, resetting.

Every exchange runs on loopback with short RFC 7252 timers; waits are bounded.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import aiocoap
import pytest
from aiocoap import resource
from aiocoap.numbers.codes import Code
from hypothesis import given
from hypothesis import strategies as st

from lighting.errors import ProtocolError
from lighting.metrics import Counters
from lighting.protocol import coapwire
from lighting.protocol.coapwire import CHANGED, CONTENT, GET, POST, PUT, Message, Option, Type
from lighting.transports.lean import Address, ExchangeError, LeanEndpoint, Reply, request_options

WAIT_S = 10


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the codec ---------------------------------------------------------------------------

options = st.lists(st.tuples(st.integers(0, 2000), st.binary(max_size=300)), max_size=6).map(
    lambda found: tuple(sorted(found, key=lambda option: option[0]))
)
messages = st.builds(
    Message,
    mtype=st.sampled_from(list(Type)),
    code=st.sampled_from([GET, POST, PUT, CHANGED, CONTENT, coapwire.NOT_FOUND]),
    mid=st.integers(0, 0xFFFF),
    token=st.binary(max_size=8),
    options=options,
    payload=st.binary(max_size=200),
)


@given(messages)
def test_a_message_round_trips(message: Message) -> None:
    assert coapwire.decode(coapwire.encode(message)) == message


@given(st.binary(max_size=300))
def test_any_datagram_is_a_message_or_a_protocol_error(data: bytes) -> None:
    try:
        message = coapwire.decode(data)
    except ProtocolError:
        return
    assert coapwire.decode(coapwire.encode(message)) == message


known_options = st.lists(
    st.one_of(
        st.tuples(st.just(int(Option.URI_PATH)), st.text(max_size=20).map(str.encode)),
        st.tuples(
            st.just(int(Option.CONTENT_FORMAT)), st.integers(0, 0xFFFF).map(coapwire.encode_uint)
        ),
        st.tuples(st.just(int(Option.ETAG)), st.binary(min_size=1, max_size=8)),
    ),
    max_size=5,
).map(lambda found: tuple(sorted(found, key=lambda option: option[0])))


@given(messages.flatmap(lambda m: known_options.map(lambda o: replace(m, options=o))))
def test_aiocoap_reads_what_we_write(message: Message) -> None:
    """aiocoap reads the options it knows by their type (Uri-Path as text, and so on)."""
    theirs = aiocoap.Message.decode(coapwire.encode(message))
    assert (theirs.mid, theirs.token, theirs.payload) == (
        message.mid,
        message.token,
        message.payload,
    )
    assert int(theirs.code) == message.code
    assert tuple(theirs.opt.uri_path) == message.uri_path


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x40\x01", "not a CoAP"),
        (b"\x49\x01\x00\x01", "token length 9"),
        (b"\x44\x01\x00\x01ab", "token is cut short"),
        (b"\x40\x01\x00\x01\xff", "payload marker with no payload"),
        (b"\x40\x01\x00\x01\xd1", "option is cut short"),
        (b"\x40\x01\x00\x01\xf0", "nibble of 15"),
        (b"\x40\x00\x00\x01\xff\x01", "empty message with a token or content"),
        (b"\x40\x21\x00\x01", "reserved"),
    ],
)
def test_broken_datagrams_are_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        coapwire.decode(data)


# -- serving, against aiocoap's client ------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[tuple[LeanEndpoint, Address, list[Message]]]:
    seen: list[Message] = []

    async def serve(request: Message, source: Address) -> Reply:
        seen.append(request)
        if request.uri_path == ("echo",):
            return Reply(CHANGED, request.payload[::-1], 60)
        return Reply(coapwire.NOT_FOUND, b"nothing here")

    endpoint = LeanEndpoint(Counters(), serve=serve, ack_timeout_s=0.2, max_retransmit=2)
    port = free_port()
    endpoint.open(("127.0.0.1", port))
    yield endpoint, ("127.0.0.1", port), seen
    await endpoint.close()


@pytest.fixture
async def client() -> AsyncIterator[aiocoap.Context]:
    context = await aiocoap.Context.create_client_context()
    yield context
    await context.shutdown()


async def test_aiocoap_posts_to_the_lean_endpoint(
    server: tuple[LeanEndpoint, Address, list[Message]], client: aiocoap.Context
) -> None:
    _, (host, port), seen = server
    request = aiocoap.Message(code=Code.POST, uri=f"coap://{host}:{port}/echo", payload=b"abc")
    async with asyncio.timeout(WAIT_S):
        response = await client.request(request).response
    assert response.code == Code.CHANGED
    assert response.payload == b"cba"
    assert response.opt.content_format == 60
    assert seen[0].uri_path == ("echo",)
    missing = aiocoap.Message(code=Code.GET, uri=f"coap://{host}:{port}/nowhere")
    async with asyncio.timeout(WAIT_S):
        assert (await client.request(missing).response).code == Code.NOT_FOUND


async def _raw_exchange(address: Address, datagrams: list[bytes], answers: int) -> list[Message]:
    """Send ``datagrams`` from one socket and read ``answers`` messages back."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        for datagram in datagrams:
            await loop.sock_sendto(sock, datagram, address)
        async with asyncio.timeout(WAIT_S):
            return [coapwire.decode(await loop.sock_recv(sock, 2048)) for _ in range(answers)]


async def test_a_duplicate_request_is_served_once_and_answered_twice(
    server: tuple[LeanEndpoint, Address, list[Message]],
) -> None:
    endpoint, address, seen = server
    request = Message(Type.CON, POST, 4711, b"\x01", coapwire.path_options(["echo"]), b"xy")
    first, second = await _raw_exchange(address, [coapwire.encode(request)] * 2, 2)
    assert len(seen) == 1
    assert first == second
    assert (first.mtype, first.mid, first.token, first.payload) == (Type.ACK, 4711, b"\x01", b"yx")
    assert endpoint.counters["coap.duplicates"] == 1


async def test_an_unknown_critical_option_is_refused_with_4_02(
    server: tuple[LeanEndpoint, Address, list[Message]],
) -> None:
    _, address, seen = server
    options = (*coapwire.path_options(["echo"]), (Option.PROXY_URI, b"coap://elsewhere"))
    request = Message(Type.CON, POST, 7, b"", tuple(sorted(options)), b"x")
    (answer,) = await _raw_exchange(address, [coapwire.encode(request)], 1)
    assert answer.code == coapwire.BAD_OPTION
    assert seen == []


async def test_a_broken_confirmable_message_and_a_ping_are_reset(
    server: tuple[LeanEndpoint, Address, list[Message]],
) -> None:
    endpoint, address, _ = server
    broken = b"\x40\x02\x00\x09\xd1"  # a CON header, then an option cut short
    ping = coapwire.encode(Message(Type.CON, 0, 10))
    first, second = await _raw_exchange(address, [broken, ping], 2)
    assert (first.mtype, first.mid) == (Type.RST, 9)
    assert (second.mtype, second.mid) == (Type.RST, 10)
    assert endpoint.counters["coap.refused.not-coap"] == 1


async def test_a_non_confirmable_request_gets_a_non_confirmable_answer(
    server: tuple[LeanEndpoint, Address, list[Message]],
) -> None:
    _, address, _ = server
    request = Message(Type.NON, POST, 99, b"\x07", coapwire.path_options(["echo"]), b"no")
    (answer,) = await _raw_exchange(address, [coapwire.encode(request)], 1)
    assert (answer.mtype, answer.token, answer.payload) == (Type.NON, b"\x07", b"on")


# -- requesting, against aiocoap's server and a raw peer ----------------------------------


class _Level(resource.Resource):  # type: ignore[misc]  # aiocoap ships no type hints
    def __init__(self) -> None:
        super().__init__()
        self.level = b"0"

    async def render_put(self, request: aiocoap.Message) -> aiocoap.Message:
        self.level = request.payload
        return aiocoap.Message(code=Code.CHANGED, payload=b"ok " + request.payload)


@pytest.fixture
async def requester() -> AsyncIterator[LeanEndpoint]:
    endpoint = LeanEndpoint(Counters(), ack_timeout_s=0.1, max_retransmit=2, seed=1)
    endpoint.open(("127.0.0.1", 0))
    yield endpoint
    await endpoint.close()


async def test_the_lean_endpoint_puts_to_an_aiocoap_server(requester: LeanEndpoint) -> None:
    site = resource.Site()
    level = _Level()
    site.add_resource(["cmd"], level)
    port = free_port()
    context = await aiocoap.Context.create_server_context(
        site, bind=("127.0.0.1", port), transports=["udp6"]
    )
    try:
        response = await requester.request(("127.0.0.1", port), PUT, ["cmd"], b"70")
    finally:
        await context.shutdown()
    assert (response.code, response.payload) == (CHANGED, b"ok 70")
    assert level.level == b"70"


class _Peer(asyncio.DatagramProtocol):
    """A raw UDP peer whose behaviour a test chooses datagram by datagram."""

    def __init__(self, behave: Callable[[_Peer, Message, Address], None]) -> None:
        self.behave = behave
        self.received: list[Message] = []
        self.arrivals: asyncio.Queue[Message] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        message = coapwire.decode(data)
        self.received.append(message)
        self.arrivals.put_nowait(message)
        self.behave(self, message, addr)

    def send(self, message: Message, address: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(coapwire.encode(message), address)


async def _peer(behave: Callable[[_Peer, Message, Address], None]) -> tuple[_Peer, Address]:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(
        lambda: _Peer(behave), local_addr=("127.0.0.1", 0)
    )
    host, port = transport.get_extra_info("sockname")[:2]
    return peer, (host, port)


async def test_a_lost_request_is_retransmitted_until_answered(requester: LeanEndpoint) -> None:
    def answer_the_second(peer: _Peer, message: Message, addr: Address) -> None:
        if message.mtype is Type.CON and len(peer.received) == 2:
            peer.send(Message(Type.ACK, CHANGED, message.mid, message.token), addr)

    peer, address = await _peer(answer_the_second)
    try:
        response = await requester.request(address, PUT, ["cmd"], b"1")
    finally:
        assert peer.transport is not None
        peer.transport.close()
    assert response.code == CHANGED
    assert len(peer.received) == 2
    assert peer.received[0] == peer.received[1]  # the same message id and token
    assert requester.counters["coap.retransmissions"] == 1


async def test_a_separate_response_is_acknowledged_and_taken(requester: LeanEndpoint) -> None:
    def answer_separately(peer: _Peer, message: Message, addr: Address) -> None:
        if message.mtype is Type.CON and message.is_request:
            peer.send(Message(Type.ACK, 0, message.mid), addr)
            peer.send(Message(Type.CON, CONTENT, 5000, message.token, payload=b"later"), addr)

    peer, address = await _peer(answer_separately)
    try:
        response = await requester.request(address, GET, ["state"])
        async with asyncio.timeout(WAIT_S):
            await peer.arrivals.get()  # the request
            ack = await peer.arrivals.get()  # our acknowledgement of the separate response
    finally:
        assert peer.transport is not None
        peer.transport.close()
    assert response.payload == b"later"
    assert (ack.mtype, ack.code, ack.mid) == (Type.ACK, 0, 5000)


async def test_a_reset_or_silence_ends_the_exchange(requester: LeanEndpoint) -> None:
    def reset(peer: _Peer, message: Message, addr: Address) -> None:
        peer.send(Message(Type.RST, 0, message.mid), addr)

    peer, address = await _peer(reset)
    with pytest.raises(ExchangeError, match="reset"):
        await requester.request(address, PUT, ["cmd"], b"1")
    peer.behave = lambda *_: None
    with pytest.raises(ExchangeError) as silence:
        await requester.request(address, PUT, ["cmd"], b"1")
    assert silence.value.timeout
    assert len(peer.received) == 1 + 3  # one reset request, then 1 + MAX_RETRANSMIT sends
    assert peer.transport is not None
    peer.transport.close()


async def test_an_acknowledged_request_whose_response_never_comes_expires(
    requester: LeanEndpoint,
) -> None:
    def acknowledge_only(peer: _Peer, message: Message, addr: Address) -> None:
        if message.mtype is Type.CON and message.is_request:
            peer.send(Message(Type.ACK, 0, message.mid), addr)

    peer, address = await _peer(acknowledge_only)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(ExchangeError, match="no response within") as expired:
            async with asyncio.timeout(WAIT_S):
                await requester.request(address, GET, ["state"])
        waited = asyncio.get_running_loop().time() - started
    finally:
        assert peer.transport is not None
        peer.transport.close()
    assert expired.value.timeout
    assert len(peer.received) == 1  # acknowledged: not retransmitted
    assert waited >= requester.max_transmit_wait_s * 0.99


async def test_started_exchanges_end_once_each_by_callback(requester: LeanEndpoint) -> None:
    """Many requests at once, answered in reverse order: each callback gets its own
    response once; a cancelled exchange gets none, and its late response is ignored."""
    held: list[tuple[Message, Address]] = []

    def hold(peer: _Peer, message: Message, addr: Address) -> None:
        if message.mtype is Type.CON and message.is_request:
            held.append((message, addr))

    peer, address = await _peer(hold)
    ended: dict[bytes, list[Message | None]] = {}
    all_ended = asyncio.Event()

    def done_for(payload: bytes) -> Callable[[Message | None, ExchangeError | None], None]:
        def done(response: Message | None, error: ExchangeError | None) -> None:
            assert error is None
            ended.setdefault(payload, []).append(response)
            if len(ended) == 49:
                all_ended.set()

        return done

    options = request_options(["cmd"])
    exchanges = [
        requester.start(address, PUT, options, str(n).encode(), done_for(str(n).encode()))
        for n in range(50)
    ]
    assert not ended  # never called from within start
    requester.cancel(exchanges[7])
    try:
        async with asyncio.timeout(WAIT_S):
            while len(held) < 50:
                await peer.arrivals.get()
            for message, addr in reversed(held):
                reply = b"ok " + message.payload
                peer.send(Message(Type.ACK, CHANGED, message.mid, message.token, (), reply), addr)
            await all_ended.wait()
    finally:
        assert peer.transport is not None
        peer.transport.close()
    assert b"7" not in ended
    for payload, responses in ended.items():
        assert len(responses) == 1
        response = responses[0]
        assert response is not None
        assert response.payload == b"ok " + payload


async def test_a_closed_endpoint_refuses_to_start_and_ends_what_is_in_flight() -> None:
    endpoint = LeanEndpoint(Counters(), ack_timeout_s=5.0)
    endpoint.open(("127.0.0.1", 0))
    errors: list[ExchangeError | None] = []
    endpoint.start(
        ("127.0.0.1", free_port()),
        PUT,
        request_options(["cmd"]),
        b"1",
        lambda _, e: errors.append(e),
    )
    await endpoint.close()
    assert len(errors) == 1
    assert errors[0] is not None
    assert "closed" in str(errors[0])
    with pytest.raises(ExchangeError, match="closed"):
        endpoint.start(("127.0.0.1", 1), PUT, request_options(["cmd"]), b"1", lambda *_: None)


async def test_each_exchange_is_retransmitted_on_its_own_time() -> None:
    """Two requests to a silent peer: each is sent again after its own timeout (1 to 1.5
    times ACK_TIMEOUT), not when the other's next retransmission falls (at least twice
    that): the one loop timer is set for the earliest of all the exchanges."""
    endpoint = LeanEndpoint(Counters(), ack_timeout_s=1.0, max_retransmit=4, seed=3)
    endpoint.open(("127.0.0.1", 0))
    loop = asyncio.get_running_loop()
    seen: dict[int, list[float]] = {}

    def note(peer: _Peer, message: Message, addr: Address) -> None:
        seen.setdefault(message.mid, []).append(loop.time())

    peer, address = await _peer(note)
    options = request_options(["cmd"])
    exchanges = [endpoint.start(address, PUT, options, b"1", lambda *_: None) for _ in range(2)]
    try:
        async with asyncio.timeout(WAIT_S):
            while len(peer.received) < 4:  # each sent twice
                await peer.arrivals.get()
    finally:
        for exchange in exchanges:
            endpoint.cancel(exchange)
        await endpoint.close()
        assert peer.transport is not None
        peer.transport.close()
    assert len(seen) == 2
    for first, second, *_ in seen.values():
        assert second - first < 2.0  # its own timeout, at most 1.5 s; never the other's 2 s


async def test_the_timer_heap_keeps_the_size_of_what_is_in_flight() -> None:
    """Thousands of answered requests: their timer entries do not pile up for their full
    timeout (ended entries are dropped once they are most of the heap)."""
    requester = LeanEndpoint(Counters(), ack_timeout_s=30.0)  # no entry falls due here
    requester.open(("127.0.0.1", 0))

    def answer(peer: _Peer, message: Message, addr: Address) -> None:
        if message.mtype is Type.CON and message.is_request:
            peer.send(Message(Type.ACK, CHANGED, message.mid, message.token), addr)

    peer, address = await _peer(answer)
    options = request_options(["cmd"])
    answered = 0
    wave = asyncio.Event()

    def done(response: Message | None, error: ExchangeError | None) -> None:
        nonlocal answered
        answered += 1
        if answered % 100 == 0:
            wave.set()

    try:
        async with asyncio.timeout(WAIT_S):
            # 6,000 requests in waves of 100, as the delivery engine paces them (and as the
            # sockets' default buffers hold them: nothing is retransmitted here).
            for _ in range(60):
                wave.clear()
                for _ in range(100):
                    requester.start(address, PUT, options, b"1", done)
                await wave.wait()
        heap = len(requester._timers)
    finally:
        await requester.close()
        assert peer.transport is not None
        peer.transport.close()
    assert answered == 6000
    assert heap <= 4096 + 100  # not 6,000: one per request ever made


async def test_a_copy_of_an_empty_ack_adds_no_timer(requester: LeanEndpoint) -> None:
    """A retransmission that crossed the peer's first ACK is acknowledged again: the
    exchange keeps one expiry, not one more entry per copy."""

    def acknowledge_twice_then_answer(peer: _Peer, message: Message, addr: Address) -> None:
        if message.mtype is Type.CON and message.is_request:
            for _ in range(2):
                peer.send(Message(Type.ACK, 0, message.mid), addr)
            peer.send(Message(Type.CON, CONTENT, 7000, message.token, payload=b"later"), addr)

    peer, address = await _peer(acknowledge_twice_then_answer)
    answered = asyncio.Event()
    exchange = requester.start(
        address, GET, request_options(["state"]), b"", lambda *_: answered.set()
    )
    try:
        async with asyncio.timeout(WAIT_S):
            await answered.wait()  # after both copies: one socket, in order
    finally:
        assert peer.transport is not None
        peer.transport.close()
    mine = [entry for entry in requester._timers if entry[2] is exchange]
    assert len(mine) == 2  # the first retransmission and the one expiry (both ended now)
