"""The MQTT client's buffered socket: on a real socket pair, and through a real Mosquitto.

paho reads a packet a few bytes at a time; ``BufferedSocket`` serves those reads from one
read of the kernel, tells aiomqtt's reader how much it still holds, and reads the kernel at
most ``FILLS_PER_TURN`` times a turn of the event loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import aiomqtt
import pytest

from lighting.transports import mqtt_client
from lighting.transports.mqtt_client import FILLS_PER_TURN, BufferedSocket, Client
from tests.mqtt_broker import WAIT_S, AnyBroker, publish, unique


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


async def test_small_reads_are_served_from_one_read_of_the_kernel(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    buffered = BufferedSocket(ours, asyncio.get_running_loop())
    theirs.sendall(b"\x30\x05hello\x40\x02\x00\x01")
    assert [buffered.recv(1), buffered.recv(1), buffered.recv(5)] == [b"\x30", b"\x05", b"hello"]
    assert buffered.pending() == 4
    assert buffered.recv(100) == b"\x40\x02\x00\x01"  # no more than it holds
    assert (buffered.pending(), buffered.reads) == (0, 1)
    with pytest.raises(BlockingIOError):
        buffered.recv(1)  # nothing held, nothing in the kernel
    theirs.close()
    assert buffered.recv(1) == b""  # end of stream, as paho expects of a socket


async def test_a_turn_reads_the_kernel_a_bounded_number_of_times(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt_client, "READ_SIZE", 2)
    ours, theirs = pair
    buffered = BufferedSocket(ours, asyncio.get_running_loop())
    data = bytes(range(2 * (FILLS_PER_TURN + 2)))
    theirs.sendall(data)
    taken = b"".join(buffered.recv(2) for _ in range(FILLS_PER_TURN))
    # The kernel still holds data, but this turn has read it enough: the loop runs first
    # (and calls the reader again, the socket being readable).
    with pytest.raises(BlockingIOError):
        buffered.recv(2)
    assert buffered.pending() == 0
    await asyncio.sleep(0)
    taken += buffered.recv(2) + buffered.recv(2)
    assert taken == data
    assert buffered.reads == FILLS_PER_TURN + 2


async def test_a_backlog_arrives_whole_and_in_order_in_few_reads(broker: AnyBroker) -> None:
    # The broker holds 600 messages for a persistent session, and sends them (up to its
    # in-flight limit) as soon as the session is back: they come in a few large reads.
    identifier, topic = unique("buffered"), unique("t") + "/backlog"
    session = Client(broker.host, broker.port, identifier=identifier, clean_session=False)
    async with session as client:
        await client.subscribe(topic, qos=1)
    sent = [(topic, f"message {number:04d}".encode()) for number in range(600)]
    await publish(broker, sent)
    received: list[bytes] = []
    async with session as client:
        async with asyncio.timeout(WAIT_S):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                received.append(message.payload)
                if len(received) == len(sent):
                    break
        sock = client._client.socket()
    assert received == [payload for _, payload in sent]
    assert isinstance(sock, BufferedSocket)
    assert sock.reads < len(sent) / 4, sock.reads


async def test_queued_messages_come_out_before_a_lost_connection_ends_the_iteration(
    broker: AnyBroker,
) -> None:
    # As with aiomqtt's own iterator: what was queued when the broker went is still taken,
    # then the iteration ends with MqttError.
    if not broker.restartable:
        pytest.skip("the broker of CITYLIGHT_TEST_MQTT cannot be stopped")
    topic = unique("t") + "/queued"
    sent = [(topic, f"message {number}".encode()) for number in range(3)]
    async with Client(broker.host, broker.port, identifier=unique("queued")) as client:
        await client.subscribe(topic, qos=1)
        await publish(broker, sent)
        async with asyncio.timeout(WAIT_S):
            while len(client.messages) < len(sent):  # noqa: ASYNC110 - aiomqtt has no event
                await asyncio.sleep(0.01)
        await asyncio.to_thread(broker.stop)
        received: list[bytes] = []
        async with asyncio.timeout(WAIT_S):
            with pytest.raises(aiomqtt.MqttError):
                await _take_all(client, received)
    assert received == [payload for _, payload in sent]


async def _take_all(client: Client, received: list[bytes]) -> None:
    async for message in client.messages:
        assert isinstance(message.payload, bytes)
        received.append(message.payload)


async def test_socket_options_reach_the_socket_under_the_buffer(broker: AnyBroker) -> None:
    # aiomqtt sets them only on a socket.socket; the client sets them before it wraps it.
    keepalive = (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    identifier = unique("options")
    async with Client(
        broker.host, broker.port, identifier=identifier, socket_options=[keepalive]
    ) as client:
        sock = client._client.socket()
        assert isinstance(sock, BufferedSocket)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
