"""Bad input at the controller's CoAP endpoint: a clear error or a counted drop, and the
controller keeps serving; on the lean stack and on aiocoap alike."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiocoap
import cbor2
import pytest
from aiocoap.numbers.codes import Code

from lighting.config import Settings
from lighting.controller import Controller
from lighting.model import Registration, StateReport
from lighting.protocol import encode_registration, encode_report

Served = tuple[Controller, aiocoap.Context, str]


@pytest.fixture(params=["lean", "aiocoap"])
async def served(
    settings: Settings, lamp_base: str, request: pytest.FixtureRequest
) -> AsyncIterator[Served]:
    """The controller on each CoAP stack: both refuse bad input the same way."""
    coap = settings.coap.model_copy(update={"stack": request.param})
    async with Controller(settings.model_copy(update={"coap": coap})) as controller:
        # The "lamp" is a plain aiocoap endpoint on its own loopback address.
        lamp = await aiocoap.Context.create_server_context(
            None, bind=(lamp_base, settings.coap.port), transports=["udp6"]
        )
        try:
            yield controller, lamp, f"coap://127.0.0.1:{settings.coap.port}"
        finally:
            await lamp.shutdown()


async def _post(
    ctx: aiocoap.Context, url: str, payload: bytes, fmt: int | None = 60
) -> aiocoap.Message:
    message = aiocoap.Message(code=Code.POST, uri=url, payload=payload)
    if fmt is not None:
        message.opt.content_format = fmt
    async with asyncio.timeout(10):
        return await ctx.request(message).response


def _registration(lamp_id: str = "L1") -> bytes:
    return encode_registration(
        Registration(
            lamp_id=lamp_id, seq=1, zone="centre", latitude=36.7, longitude=119.1, wattage=90
        )
    )


async def test_a_datagram_that_is_not_coap_is_dropped_and_counted(served: Served) -> None:
    controller, lamp, base = served
    host, port = controller.address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(b"\x00garbage, not CoAP at all", (host, port))
        raw.sendto(b"\xff", (host, port))
    # Datagrams are handled in order: once this answer is back, the garbage was seen.
    response = await _post(lamp, f"{base}/reg", _registration())
    assert response.code == Code.CREATED
    assert controller.counters["coap.refused.not-coap"] == 2


@pytest.mark.parametrize(
    ("payload", "code", "reason"),
    [
        (b"\xff\xfe not CBOR", Code.BAD_REQUEST, b"not valid CBOR"),
        (
            cbor2.dumps({0: "L1", 1: 2, 2: 250, 4: 0, 5: 0, 6: 0}),
            Code.BAD_REQUEST,
            b"level 250 is out of range",
        ),
        (cbor2.dumps({0: "L1", 1: 2}), Code.BAD_REQUEST, b"missing level"),
        (cbor2.dumps({0: "L1", 1: 2, 99: "x" * 2000}), Code.REQUEST_ENTITY_TOO_LARGE, b"exceeds"),
    ],
)
async def test_a_bad_report_is_refused_with_a_reason_and_counted(
    served: Served, payload: bytes, code: Code, reason: bytes
) -> None:
    controller, lamp, base = served
    assert (await _post(lamp, f"{base}/reg", _registration())).code == Code.CREATED
    response = await _post(lamp, f"{base}/report", payload)
    assert response.code == code
    assert reason in response.payload
    assert controller.counters["coap.refused.report.bad-payload"] == 1
    # ... and the controller keeps serving.
    good = StateReport(lamp_id="L1", seq=3, level=50, power_w=45, energy_wh=1, burning_s=10)
    assert (await _post(lamp, f"{base}/report", encode_report(good))).code == Code.CHANGED
    lamp_record = await controller.store.call(controller.repository.lamp, "L1")
    assert lamp_record is not None
    assert lamp_record.level == 50


async def test_a_report_from_an_unknown_lamp_is_refused_with_404(served: Served) -> None:
    controller, lamp, base = served
    report = StateReport(lamp_id="stranger", seq=1, level=0, power_w=0, energy_wh=0, burning_s=0)
    response = await _post(lamp, f"{base}/report", encode_report(report))
    assert response.code == Code.NOT_FOUND
    assert b"register first" in response.payload
    assert controller.counters["coap.refused.report.unknown-lamp"] == 1
    assert await controller.store.call(controller.repository.lamps) == []


async def test_another_content_format_is_refused_with_415(served: Served) -> None:
    controller, lamp, base = served
    response = await _post(lamp, f"{base}/reg", b'{"lamp": "L1"}', fmt=50)  # JSON
    assert response.code == Code.UNSUPPORTED_CONTENT_FORMAT
    assert controller.counters["coap.refused.registration.bad-payload"] == 1
