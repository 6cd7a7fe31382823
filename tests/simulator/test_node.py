"""A simulated lamp is a real CoAP endpoint that any CoAP client (here aiocoap's) can use."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import aiocoap
import cbor2
import pytest
from aiocoap.numbers.codes import Code

from lighting.model import Command
from lighting.protocol import decode_ack, decode_report, encode_command
from simulator import BindError, LampNode
from tests.conftest import open_lamp


@pytest.fixture
async def node(lamp_base: str, coap_port: int) -> AsyncIterator[LampNode]:
    async with open_lamp("L7", lamp_base, coap_port, ("127.0.0.1", 9), seed=1) as lamp:
        yield lamp


@pytest.fixture
async def client() -> AsyncIterator[aiocoap.Context]:
    context = await aiocoap.Context.create_client_context(transports=["udp6"])
    yield context
    await context.shutdown()


async def _request(
    client: aiocoap.Context, code: Code, url: str, payload: bytes = b""
) -> aiocoap.Message:
    async with asyncio.timeout(10):
        return await client.request(aiocoap.Message(code=code, uri=url, payload=payload)).response


async def test_a_coap_client_discovers_reads_and_commands_a_lamp(
    node: LampNode, client: aiocoap.Context
) -> None:
    base = f"coap://{node.spec.address}:{node.spec.port}"
    links = await _request(client, Code.GET, f"{base}/.well-known/core")
    assert links.code == Code.CONTENT
    assert b"</cmd>" in links.payload
    assert b"</state>" in links.payload

    ack = await _request(client, Code.PUT, f"{base}/cmd", encode_command(Command(9, 70)))
    assert ack.code == Code.CHANGED
    assert decode_ack(ack.payload).level == 70

    state = await _request(client, Code.GET, f"{base}/state")
    report = decode_report(state.payload)
    assert (report.lamp_id, report.level, report.power_w) == ("L7", 70, 56.0)


async def test_a_lamp_refuses_a_bad_command_and_keeps_its_level(
    node: LampNode, client: aiocoap.Context
) -> None:
    base = f"coap://{node.spec.address}:{node.spec.port}"
    refused = await _request(client, Code.PUT, f"{base}/cmd", cbor2.dumps({3: 1, 2: 250}))
    assert refused.code == Code.BAD_REQUEST
    assert b"out of range" in refused.payload
    garbage = await _request(client, Code.PUT, f"{base}/cmd", b"\xff\x00")
    assert garbage.code == Code.BAD_REQUEST
    assert node.lamp.level == 0
    assert node.refused == 2


async def test_a_second_lamp_on_the_same_address_is_refused(node: LampNode) -> None:
    loop = asyncio.get_running_loop()
    twin = LampNode(node.spec, ("127.0.0.1", 9), clock=loop.time, rng=random.Random(2))
    with pytest.raises(BindError, match="cannot bind"):
        await twin.open()
