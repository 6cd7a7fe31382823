"""A lamp's CoAP, RFC 7252 rule by rule, against a raw UDP peer that plays the parts a
library will not: answering separately, losing a datagram, repeating one, pinging."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from lighting.model import Command
from lighting.protocol import coapwire, decode_ack, decode_registration, encode_command
from lighting.protocol.coapwire import (
    CHANGED,
    CREATED,
    EMPTY,
    GET,
    POST,
    PUT,
    Message,
    Option,
    Type,
)
from simulator import LampNode
from simulator import node as node_module
from tests.conftest import open_lamp

WAIT_S = 10


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    """A raw UDP socket on 127.0.0.1: the controller, or any client."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


@pytest.fixture
async def lamp(peer: socket.socket, lamp_base: str, coap_port: int) -> AsyncIterator[LampNode]:
    async with open_lamp("L9", lamp_base, coap_port, peer.getsockname(), seed=3) as node:
        yield node


async def _receive(peer: socket.socket) -> tuple[Message, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(WAIT_S):
        data, remote = await loop.sock_recvfrom(peer, 2048)
    return coapwire.decode(data), remote


async def _send(peer: socket.socket, message: Message, to: tuple[str, int]) -> None:
    await asyncio.get_running_loop().sock_sendto(peer, coapwire.encode(message), to)


async def test_a_separate_answer_is_acknowledged_and_taken(
    lamp: LampNode, peer: socket.socket
) -> None:
    registering = asyncio.create_task(lamp.register())
    request, remote = await _receive(peer)
    assert remote == (lamp.spec.address, lamp.spec.port)  # sent from the lamp's own address
    assert (request.mtype, request.code, request.uri_path) == (Type.CON, POST, ("reg",))
    assert decode_registration(request.payload).lamp_id == "L9"
    await _send(peer, Message(Type.ACK, EMPTY, request.mid), remote)  # "answer later"
    await _send(peer, Message(Type.CON, CREATED, 4321, request.token), remote)
    ack, _ = await _receive(peer)
    assert (ack.mtype, ack.code, ack.mid) == (Type.ACK, EMPTY, 4321)
    async with asyncio.timeout(WAIT_S):
        assert await registering
    assert lamp.is_registered


async def test_a_lost_uplink_is_sent_again_with_the_same_message_id(
    lamp: LampNode, peer: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_module, "ACK_TIMEOUT_S", 0.1)
    reporting = asyncio.create_task(lamp.send_report())
    first, _ = await _receive(peer)  # lost on the way: not answered
    again, remote = await _receive(peer)
    assert (again.mid, again.token, again.payload) == (first.mid, first.token, first.payload)
    await _send(peer, Message(Type.ACK, CHANGED, again.mid, again.token), remote)
    async with asyncio.timeout(WAIT_S):
        await reporting
    assert (lamp.uplinks_failed, lamp.reported.is_set()) == (0, True)


async def test_an_uplink_never_answered_is_given_up(
    lamp: LampNode, peer: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_module, "ACK_TIMEOUT_S", 0.05)
    lamp.uplink_timeout_s = 0.5
    async with asyncio.timeout(WAIT_S):
        assert not await lamp.register()
    assert lamp.uplinks_failed == 1
    sent = 0
    while True:  # the first transmission and its retransmissions, all with one message id
        try:
            data = peer.recv(2048)
        except BlockingIOError:
            break
        sent += 1
        assert coapwire.decode(data).mtype == Type.CON
    assert 2 <= sent <= 5


async def test_a_repeated_request_is_applied_once_and_answered_the_same(
    lamp: LampNode, peer: socket.socket
) -> None:
    where = (lamp.spec.address, lamp.spec.port)
    put = Message(
        Type.CON, PUT, 77, b"t1", coapwire.path_options(("cmd",)), encode_command(Command(5, 40))
    )
    await _send(peer, put, where)
    first, _ = await _receive(peer)
    lamp.lamp.level = 10  # moved meanwhile: a new application would put it back at 40
    await _send(peer, put, where)  # the same datagram again (our ACK was "lost")
    second, _ = await _receive(peer)
    assert coapwire.encode(first) == coapwire.encode(second)
    assert (first.mtype, first.code, decode_ack(first.payload).level) == (Type.ACK, CHANGED, 40)
    assert (lamp.lamp.level, lamp.lamp.commands_applied) == (10, 1)


async def test_non_confirmable_requests_pings_and_unknown_critical_options(
    lamp: LampNode, peer: socket.socket
) -> None:
    where = (lamp.spec.address, lamp.spec.port)
    await _send(peer, Message(Type.NON, GET, 5, b"n", coapwire.path_options(("state",))), where)
    answer, _ = await _receive(peer)
    assert (answer.mtype, answer.code, answer.token) == (Type.NON, coapwire.CONTENT, b"n")
    await _send(peer, Message(Type.CON, EMPTY, 6), where)  # a CoAP ping
    pong, _ = await _receive(peer)
    assert (pong.mtype, pong.mid) == (Type.RST, 6)
    odd = Message(Type.CON, GET, 7, b"o", ((Option.URI_PATH, b"state"), (Option.IF_MATCH, b"")))
    await _send(peer, odd, where)
    refused, _ = await _receive(peer)
    assert refused.code == coapwire.BAD_OPTION
    await asyncio.get_running_loop().sock_sendto(peer, b"not coap at all", where)
    await _send(peer, Message(Type.CON, GET, 8, b"p", coapwire.path_options(("state",))), where)
    await _receive(peer)  # answered after the garbage, which was dropped
    assert lamp.refused == 1
