"""A burst of uplinks at the lean CoAP endpoint: read off the socket together, the reports
stored in one submission and each answered once its batch is committed, the bad ones
refused one by one without holding back the rest."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from lighting.config import Settings
from lighting.controller import Controller
from lighting.model import Registration, StateReport
from lighting.protocol import (
    CONTENT_FORMAT_CBOR,
    CONTROLLER_REGISTER,
    CONTROLLER_REPORT,
    coapwire,
    encode_registration,
    encode_report,
)
from lighting.protocol.coapwire import POST, Message, Option, Type

WAIT_S = 10.0
LAMPS = 40


def _post(mid: int, path: Sequence[str], payload: bytes) -> bytes:
    options = (
        *coapwire.path_options(path),
        (int(Option.CONTENT_FORMAT), coapwire.encode_uint(CONTENT_FORMAT_CBOR)),
    )
    return coapwire.encode(Message(Type.CON, POST, mid, mid.to_bytes(2, "big"), options, payload))


async def _exchange(address: tuple[str, int], datagrams: list[bytes]) -> dict[int, Message]:
    """Send every datagram at once from one socket; the answers by message id."""
    loop = asyncio.get_running_loop()
    answers: dict[int, Message] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        for datagram in datagrams:
            sock.sendto(datagram, address)
        async with asyncio.timeout(WAIT_S):
            while len(answers) < len(datagrams):
                answer = coapwire.decode(await loop.sock_recv(sock, 2048))
                answers[answer.mid] = answer
    return answers


async def test_a_burst_of_reports_is_stored_together_and_each_answered(
    settings: Settings,
) -> None:
    async with Controller(settings) as controller:
        assert settings.coap.stack == "lean"
        address = controller.address
        registrations = [
            _post(
                i,
                CONTROLLER_REGISTER,
                encode_registration(
                    Registration(
                        lamp_id=f"B{i:03d}",
                        seq=1,
                        zone="centre",
                        latitude=36.7,
                        longitude=119.1,
                        wattage=100,
                    )
                ),
            )
            for i in range(LAMPS)
        ]
        answers = await _exchange(address, registrations)
        assert {answer.code for answer in answers.values()} == {coapwire.code(2, 1)}
        batches = controller.counters["ingest.batches"]

        reports = [
            _post(
                1000 + i,
                CONTROLLER_REPORT,
                encode_report(
                    StateReport(
                        lamp_id=f"B{i:03d}",
                        seq=2,
                        level=70,
                        power_w=70.0,
                        energy_wh=1.0,
                        burning_s=60,
                    )
                ),
            )
            for i in range(LAMPS)
        ]
        unknown = encode_report(
            StateReport(lamp_id="NOBODY", seq=2, level=0, power_w=0, energy_wh=0, burning_s=0)
        )
        burst = [
            *reports[:20],
            _post(2000, CONTROLLER_REPORT, b"\xff\x00 not cbor"),
            _post(2001, CONTROLLER_REPORT, unknown),
            *reports[20:],
        ]
        answers = await _exchange(address, burst)
        stored = await controller.store.call(controller.repository.lamps)

    codes = {mid: answer.code for mid, answer in answers.items()}
    assert codes.pop(2000) == coapwire.code(4, 0)
    assert codes.pop(2001) == coapwire.code(4, 4)
    assert set(codes.values()) == {coapwire.code(2, 4)}
    assert controller.counters["reports.newest"] == LAMPS
    assert controller.counters["coap.accepted.report"] == LAMPS
    assert controller.counters["coap.refused.report.bad-payload"] == 1
    assert controller.counters["coap.refused.report.unknown-lamp"] == 1
    # Read off the socket in bursts and written together, not one transaction each.
    assert controller.counters["ingest.batches"] - batches < LAMPS / 4
    assert {lamp.level for lamp in stored} == {70}
