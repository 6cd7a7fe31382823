"""The lean MQTT subscriber, against a real Mosquitto and, for what a good broker never does,
against a broker of the test's own that answers with given bytes over a loopback socket.

The ingest's own tests (test_mqtt.py, test_mqtt_tls.py, test_mqtt_acl.py) run it through
the whole controller; these are the subscriber's duties on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from lighting.errors import BrokerError
from lighting.protocol.mqttwire import (
    CONNECT,
    PINGREQ,
    PUBACK,
    Publish,
    publish_packet,
)
from lighting.transports.mqtt_lean import QUEUE_HIGH, Subscriber
from tests.mqtt_broker import (
    CONNACK_OK,
    WAIT_S,
    AnyBroker,
    fake_broker,
    publish,
    read_packets,
    unique,
)


class _Watched(Subscriber):
    """The subscriber, with an event for each read of the broker's bytes."""

    def __init__(self, host: str, port: int, **given: Any) -> None:
        super().__init__(host, port, **given)
        self.read = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.read.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait, at most ``WAIT_S``, until ``condition`` holds after a read."""
        async with asyncio.timeout(WAIT_S):
            while not condition():
                self.read.clear()
                await self.read.wait()


def _subscriber(host: str, port: int, **given: Any) -> _Watched:
    values: dict[str, Any] = {
        "client_id": unique("lean"),
        "clean_session": True,
        "keepalive_s": 30,
        "timeout_s": 2.0,
    }
    return _Watched(host, port, **(values | given))


async def _all(subscriber: Subscriber, count: int) -> list[Publish]:
    taken: list[Publish] = []
    async with asyncio.timeout(WAIT_S):
        async for message in subscriber.messages():
            taken.append(message)
            if len(taken) == count:
                break
    return taken


async def test_qos_1_messages_from_mosquitto_come_in_order_with_their_packet_ids(
    broker: AnyBroker,
) -> None:
    topic = unique("lean") + "/up"
    subscriber = _subscriber(broker.host, broker.port)
    async with subscriber:
        assert await subscriber.subscribe(topic + "/#", 1) == [1]
        await publish(broker, [(f"{topic}/{index}", b"%d" % index) for index in range(50)])
        taken = await _all(subscriber, 50)
        for message in taken:
            subscriber.ack(message.mid)
    assert [message.payload for message in taken] == [b"%d" % index for index in range(50)]
    assert {message.qos for message in taken} == {1}
    assert len({message.mid for message in taken}) == 50


async def test_the_keepalive_pings_and_the_broker_keeps_the_connection(
    broker: AnyBroker,
) -> None:
    # Mosquitto drops a client that sends nothing for 1.5 keep-alives; two PINGRESPs mean
    # the subscriber pinged in time, twice, and the connection still carries a message.
    topic = unique("lean") + "/alive"
    subscriber = _subscriber(broker.host, broker.port, keepalive_s=1)
    async with subscriber:
        await subscriber.subscribe(topic, 1)
        await subscriber.until(lambda: subscriber.pongs >= 2)
        await publish(broker, [(topic, b"still here")])
        (message,) = await _all(subscriber, 1)
    assert message.payload == b"still here"


async def test_a_refused_connection_says_why() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packets(reader, 1)
        writer.write(b"\x20\x02\x00\x05")  # not authorised
        await writer.drain()

    async with fake_broker(refuse) as (host, port):
        with pytest.raises(BrokerError, match="not authorised"):
            await _subscriber(host, port).__aenter__()


async def test_a_broker_that_never_answers_is_given_up() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the subscriber gives up and closes

    async with fake_broker(silent) as (host, port):
        with pytest.raises(BrokerError, match=r"no CONNACK within 0\.2 s"):
            await _subscriber(host, port, timeout_s=0.2).__aenter__()


async def test_queued_messages_come_out_before_a_protocol_error_ends_the_iteration() -> None:
    async def breaks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (connect,) = await read_packets(reader, 1)
        assert connect[0] == CONNECT
        writer.write(CONNACK_OK + publish_packet(b"t/a", b"one", 1))
        writer.write(publish_packet(b"t/b", b"two", 0, qos=0))
        writer.write(b"\x36\x04\x00\x01t\x00")  # a PUBLISH at QoS 3
        await writer.drain()
        await reader.read()

    async with fake_broker(breaks) as (host, port):
        subscriber = _subscriber(host, port)
        async with subscriber:
            messages = subscriber.messages()
            async with asyncio.timeout(WAIT_S):
                taken = [(await anext(messages)).payload for _ in range(2)]
                with pytest.raises(BrokerError, match="QoS 3"):
                    await anext(messages)
    assert taken == [b"one", b"two"]


async def test_acknowledgements_of_a_turn_go_in_one_write_in_order() -> None:
    got: asyncio.Future[list[tuple[int, bytes]]] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packets(reader, 1)
        writer.write(CONNACK_OK + b"".join(publish_packet(b"t", b"x", mid) for mid in (7, 8, 9)))
        await writer.drain()
        got.set_result(await read_packets(reader, 3))

    async with fake_broker(serve) as (host, port):
        subscriber = _subscriber(host, port)
        async with subscriber:
            taken = await _all(subscriber, 3)
            for message in reversed(taken):
                subscriber.ack(message.mid)
            async with asyncio.timeout(WAIT_S):
                acks = await got
    assert acks == [(PUBACK, b"\x00\x09"), (PUBACK, b"\x00\x08"), (PUBACK, b"\x00\x07")]


async def test_a_broker_that_stops_answering_pings_is_given_up() -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packets(reader, 1)
        writer.write(CONNACK_OK)
        await writer.drain()
        (ping,) = await read_packets(reader, 1)
        assert ping == (PINGREQ, b"")
        await reader.read()  # no PINGRESP, ever

    async with fake_broker(deaf) as (host, port):
        subscriber = _subscriber(host, port, keepalive_s=1)
        async with subscriber:
            async with asyncio.timeout(WAIT_S):
                with pytest.raises(BrokerError, match="no PINGRESP"):
                    await anext(subscriber.messages())


async def test_a_flood_of_qos_0_pauses_reading_and_loses_nothing() -> None:
    total = 3 * QUEUE_HIGH

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packets(reader, 1)
        writer.write(CONNACK_OK)
        for index in range(total):
            writer.write(publish_packet(b"t/q0", index.to_bytes(4, "big") * 50, 0, qos=0))
        await writer.drain()
        await reader.read()

    async with fake_broker(flood) as (host, port):
        subscriber = _subscriber(host, port)
        async with subscriber:
            # Nobody takes them: once QUEUE_HIGH wait, reading pauses.
            await subscriber.until(lambda: subscriber.received >= QUEUE_HIGH)
            assert not subscriber.reading
            taken = await _all(subscriber, total)
            assert subscriber.reading
    assert [int.from_bytes(message.payload[:4], "big") for message in taken] == list(range(total))
    assert subscriber.received == total


async def test_a_large_message_in_many_reads_comes_whole() -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB: many reads of the socket

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packets(reader, 1)
        writer.write(CONNACK_OK + publish_packet(b"t/large", payload, 3))
        await writer.drain()
        await reader.read()

    async with fake_broker(large) as (host, port):
        subscriber = _subscriber(host, port)
        async with subscriber:
            (message,) = await _all(subscriber, 1)
    assert (message.topic, message.mid, message.payload == payload) == ("t/large", 3, True)


async def test_a_subscription_after_the_connection_broke_fails_at_once() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packets(reader, 1)
        writer.write(CONNACK_OK)
        await writer.drain()  # and the connection closes

    async with fake_broker(hang_up) as (host, port):
        subscriber = _subscriber(host, port, timeout_s=WAIT_S)
        async with subscriber, asyncio.timeout(WAIT_S):
            with pytest.raises(BrokerError):  # the iteration says the connection is gone
                await anext(subscriber.messages())
            # and so does a subscription, at once: not "no SUBACK within 10 s"
            with pytest.raises(BrokerError, match="closed the connection"):
                await subscriber.subscribe("t/#", 1)


async def test_a_connect_cancelled_before_the_connack_closes_the_socket() -> None:
    closed = asyncio.get_running_loop().create_future()
    connected = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packets(reader, 1)
        connected.set()
        closed.set_result(await reader.read())  # b"" once the subscriber closes

    async with fake_broker(slow) as (host, port):
        connecting = asyncio.create_task(_subscriber(host, port).__aenter__())
        async with asyncio.timeout(WAIT_S):
            await connected.wait()
            connecting.cancel()
            assert await closed == b""
        with pytest.raises(asyncio.CancelledError):
            await connecting


async def test_a_paused_subscriber_keeps_pinging_and_keeps_its_connection() -> None:
    # Reading pauses while QUEUE_HIGH messages wait, so PINGRESPs wait too: that must not
    # count as a broker that stopped answering, and the pings go on.
    total = 3 * QUEUE_HIGH
    pinged = asyncio.Event()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_packets(reader, 1)
        writer.write(CONNACK_OK)
        for index in range(total):
            writer.write(publish_packet(b"t/q0", index.to_bytes(4, "big") * 50, 0, qos=0))
        pings = 0
        while pings < 3:
            (packet,) = await read_packets(reader, 1)
            if packet[0] == PINGREQ:
                pings += 1
                writer.write(b"\xd0\x00")
        pinged.set()
        await reader.read()

    async with fake_broker(flood) as (host, port):
        subscriber = _subscriber(host, port, keepalive_s=1)
        async with subscriber:
            await subscriber.until(lambda: subscriber.received >= QUEUE_HIGH)
            async with asyncio.timeout(WAIT_S):
                await pinged.wait()  # three pings: 1.5 keep-alives and more, paused
            assert not subscriber.reading
            taken = await _all(subscriber, total)
    assert len(taken) == total
