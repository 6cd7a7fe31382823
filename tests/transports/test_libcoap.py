"""Interoperability with libcoap, a widely used C implementation of CoAP: its
command-line client talks to a simulated lamp and to the controller, and the lean
endpoint's requests go to libcoap's example server.

The tools come from Debian's libcoap3-bin (``./run test`` installs it where it can). Where
they are missing these tests are skipped, unless CITYLIGHT_REQUIRE_LIBCOAP is set (CI sets
it), which makes their absence a failure. Every exchange runs on loopback; each tool runs
with a bounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lighting.config import Settings
from lighting.controller import Controller
from lighting.metrics import Counters
from lighting.model import Command, Registration, StateReport
from lighting.protocol import decode_ack, decode_report, encode_command
from lighting.protocol.coapwire import CHANGED, CONTENT, CREATED, GET, PUT, Option, Type
from lighting.protocol.codec import encode_registration, encode_report
from lighting.transports.lean import Address, LeanEndpoint
from simulator import LampNode
from tests.conftest import free_udp_port, open_lamp

WAIT_S = 20
"""The longest any one tool may run."""


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    if os.environ.get("CITYLIGHT_REQUIRE_LIBCOAP"):
        pytest.fail(f"CITYLIGHT_REQUIRE_LIBCOAP is set but none of {names} is installed")
    pytest.skip(f"libcoap's {names[0]} is not installed (Debian: libcoap3-bin)")


@pytest.fixture
def coap_client() -> str:
    return _tool("coap-client-notls", "coap-client")


@pytest.fixture
def coap_server() -> str:
    return _tool("coap-server-notls", "coap-server")


async def _run(*argv: str) -> tuple[bytes, bytes]:
    """Run a libcoap tool; its standard output and error. It must end by itself in time,
    and succeed."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        async with asyncio.timeout(WAIT_S):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, (argv, process.returncode, err)
    return out, err


# -- libcoap's client and a simulated lamp -------------------------------------------------


@pytest.fixture
async def node(lamp_base: str, coap_port: int) -> AsyncIterator[LampNode]:
    async with open_lamp("L9", lamp_base, coap_port, ("127.0.0.1", 9), seed=1) as lamp:
        yield lamp


async def test_libcoap_discovers_commands_and_reads_a_lamp(
    node: LampNode, coap_client: str, tmp_path: Path
) -> None:
    base = f"coap://{node.spec.address}:{node.spec.port}"
    links, _ = await _run(coap_client, "-B", "5", f"{base}/.well-known/core")
    assert b"</cmd>;ct=60" in links
    assert b"</state>;ct=60" in links

    command, ack = tmp_path / "command.cbor", tmp_path / "ack.cbor"
    command.write_bytes(encode_command(Command(41, 70)))
    await _run(
        coap_client, "-B", "5", "-m", "put", "-t", "60", "-f", str(command), "-o", str(ack),
        f"{base}/cmd",
    )  # fmt: skip
    assert decode_ack(ack.read_bytes()).level == 70
    assert node.lamp.level == 70

    state = tmp_path / "state.cbor"
    await _run(coap_client, "-B", "5", "-o", str(state), f"{base}/state")
    report = decode_report(state.read_bytes())
    assert (report.lamp_id, report.level, report.last_command_id) == ("L9", 70, 41)


async def test_libcoap_reads_a_lamp_block_by_block(
    node: LampNode, coap_client: str, tmp_path: Path
) -> None:
    """With 16-byte blocks a state report (about 46 bytes) takes three Block2 exchanges;
    libcoap puts them back together."""
    state = tmp_path / "state.cbor"
    log, _ = await _run(
        coap_client, "-B", "5", "-v", "7", "-b", "16", "-o", str(state),
        f"coap://{node.spec.address}:{node.spec.port}/state",
    )  # fmt: skip
    assert decode_report(state.read_bytes()).lamp_id == "L9"
    assert len(state.read_bytes()) > 32  # more than two blocks' worth
    # libcoap's debug log (on its standard output) shows each of our responses: blocks 0
    # and 1 of 16 bytes with more to come, then the last.
    answers = [line for line in log.splitlines() if line.startswith(b"v:1 t:ACK c:2.05")]
    blocks = [b"Block2:0/M/16", b"Block2:1/M/16", b"Block2:2/_/16"]
    assert [block for block in blocks if any(block in line for line in answers)] == blocks, log


async def test_libcoap_gets_refusals_from_a_lamp(node: LampNode, coap_client: str) -> None:
    base = f"coap://{node.spec.address}:{node.spec.port}"
    _, missing = await _run(coap_client, "-B", "5", f"{base}/nowhere")
    assert missing.strip() == b"4.04"
    _, wrong = await _run(coap_client, "-B", "5", "-m", "delete", f"{base}/cmd")
    assert wrong.startswith(b"4.05 PUT or POST")
    _, bad = await _run(coap_client, "-B", "5", "-m", "put", "-t", "60", "-e", "x", f"{base}/cmd")
    assert bad.startswith(b"4.00 ")  # with the lamp's reason
    assert node.lamp.level == 0


async def test_libcoap_asks_non_confirmable(node: LampNode, coap_client: str) -> None:
    base = f"coap://{node.spec.address}:{node.spec.port}"
    links, _ = await _run(coap_client, "-B", "5", "-N", f"{base}/.well-known/core")
    assert b"</state>" in links


# -- libcoap's client and the controller ---------------------------------------------------


async def test_a_libcoap_lamp_registers_and_reports_to_the_controller(
    settings: Settings, coap_client: str, tmp_path: Path
) -> None:
    registration = tmp_path / "reg.cbor"
    registration.write_bytes(
        encode_registration(
            Registration(
                lamp_id="libcoap-1",
                seq=1,
                zone="centre",
                latitude=36.7,
                longitude=119.1,
                wattage=60,
                cell="cell-a",
            )
        )
    )
    report = tmp_path / "report.cbor"
    report.write_bytes(
        encode_report(
            StateReport(
                lamp_id="libcoap-1", seq=2, level=35, power_w=21.0, energy_wh=1.5, burning_s=90
            )
        )
    )
    async with Controller(settings) as controller:
        host, port = controller.address
        base = f"coap://{host}:{port}"
        _, answer = await _run(
            coap_client, "-B", "5", "-m", "post", "-t", "60", "-f", str(registration),
            f"{base}/reg",
        )  # fmt: skip
        assert answer == b""  # 2.01: libcoap prints only error codes
        assert controller.registry.find("libcoap-1") is not None
        await _run(
            coap_client, "-B", "5", "-m", "post", "-t", "60", "-f", str(report), f"{base}/report"
        )
        lamp = await controller.store.call(controller.repository.lamp, "libcoap-1")
        assert lamp is not None
        assert (lamp.cell, lamp.level, lamp.energy_wh) == ("cell-a", 35, 1.5)

        _, refused = await _run(
            coap_client, "-B", "5", "-m", "post", "-t", "60", "-e", "not-cbor", f"{base}/report"
        )
        assert refused.startswith(b"4.00 payload")
        assert controller.counters["coap.refused.report.bad-payload"] == 1
        assert controller.counters["coap.accepted.report"] == 1


# -- the lean endpoint and libcoap's server ------------------------------------------------


async def _bound(port: int) -> None:
    """Return once a process holds UDP ``port`` on 127.0.0.1 (the server started beside
    the test): asked of the kernel, so that no datagram is sent before it listens."""
    async with asyncio.timeout(WAIT_S):
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError as err:
                    if err.errno == errno.EADDRINUSE:
                        return
                    raise
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def _libcoap_server(binary: str, *options: str) -> AsyncIterator[Address]:
    """libcoap's example server on a free loopback port, with ``options``."""
    port = free_udp_port()
    process = await asyncio.create_subprocess_exec(
        binary, "-A", "127.0.0.1", "-p", str(port), *options,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await _bound(port)
        yield ("127.0.0.1", port)
    finally:
        process.terminate()
        async with asyncio.timeout(WAIT_S):
            await process.wait()


@pytest.fixture
async def libcoap_server(coap_server: str) -> AsyncIterator[Address]:
    async with _libcoap_server(coap_server) as address:
        yield address


@pytest.fixture
async def requester() -> AsyncIterator[LeanEndpoint]:
    endpoint = LeanEndpoint(Counters(), ack_timeout_s=0.2, max_retransmit=3, seed=1)
    endpoint.open(("127.0.0.1", 0))
    yield endpoint
    await endpoint.close()


async def test_the_lean_endpoint_puts_and_gets_on_a_libcoap_server(
    requester: LeanEndpoint, libcoap_server: Address
) -> None:
    links = await requester.request(libcoap_server, GET, [".well-known", "core"])
    assert b"</example_data>" in links.payload
    created = await requester.request(libcoap_server, PUT, ["example_data"], b"level 70")
    assert created.code in (CREATED, CHANGED)
    read = await requester.request(libcoap_server, GET, ["example_data"])
    assert (read.code, read.payload) == (CONTENT, b"level 70")


async def test_the_lean_endpoint_takes_a_separate_response_from_libcoap(
    requester: LeanEndpoint, libcoap_server: Address
) -> None:
    """libcoap's ``/async?1`` acknowledges at once and answers a second later, in a
    confirmable response of its own that the endpoint acknowledges (RFC 7252 5.2.2)."""
    response = await requester.request(
        libcoap_server, GET, ["async"], options=[(Option.URI_QUERY, b"1")]
    )
    # A piggybacked response would have come as the ACK itself.
    assert (response.mtype, response.code, response.payload) == (Type.CON, CONTENT, b"done")


async def test_the_lean_endpoint_retransmits_until_libcoap_answers(
    requester: LeanEndpoint, coap_server: str
) -> None:
    """libcoap's server loses its first two datagrams (``-l 1,2``): the endpoint sends its
    request again after ACK_TIMEOUT, then twice as long after, and libcoap answers the
    repeated message id again."""
    async with _libcoap_server(coap_server, "-l", "1,2") as server:
        response = await requester.request(server, GET, ["example_data"])
    assert response.code == CONTENT
    assert requester.counters["coap.retransmissions"] >= 2  # more if the machine is slow
