"""OSCORE on the wire: a secured controller and a secured simulated city, real UDP on
loopback. Every command and uplink is protected; what is not, or is forged, replayed or
speaks for another lamp, is refused and counted; restarts recover through Echo; and
aiocoap's own OSCORE client talks to the controller."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiocoap
import pytest
from aiocoap.numbers.codes import Code

from lighting.config import Settings
from lighting.controller import Controller
from lighting.keys import KeyStore, Side, keys_file, provision, read_keys, state_file
from lighting.model import Command, Registration
from lighting.protocol import (
    CONTROLLER_REGISTER,
    LAMP_COMMAND,
    encode_command,
    encode_registration,
)
from lighting.protocol import coapwire as coap
from lighting.protocol.coapwire import Message, Option, Type
from lighting.protocol.oscore import SecurityContext
from simulator import LampNode, LampSpec, Simulator, build_fleet
from tests.conftest import free_udp_port, make_settings

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
LAMPS = 12
WAIT_S = 30.0


def _secure(settings: Settings, keys: Path) -> Settings:
    coap_config = settings.coap.model_copy(update={"security": "oscore", "keys": keys})
    return settings.model_copy(update={"coap": coap_config})


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def secure_settings(db_url: str, coap_port: int, keys: Path) -> Settings:
    settings = make_settings(db_url, coap_port, delivery={"concurrency": 32, "jitter_s": 0.05})
    return _secure(settings, keys)


def _fleet(settings: Settings, lamp_base: str, keys: Path, count: int = LAMPS) -> list[LampSpec]:
    specs = build_fleet(
        count,
        zones=list(settings.zones),
        base_address=lamp_base,
        port=settings.coap.port,
        report_period_s=1,
    )
    provision(keys, [spec.lamp_id for spec in specs])
    return specs


@contextlib.asynccontextmanager
async def _secured(
    settings: Settings, specs: list[LampSpec], keys: Path
) -> AsyncIterator[tuple[Controller, Simulator]]:
    """The secured controller and its secured city, every lamp registered."""
    with KeyStore(keys, "lamps") as lamp_keys:
        async with (
            Controller(settings) as controller,
            Simulator(specs, controller.address, keys=lamp_keys) as sim,
        ):
            async with asyncio.timeout(WAIT_S):
                await sim.wait_registered()
            yield controller, sim


@pytest.fixture
async def city(
    secure_settings: Settings, lamp_base: str, keys: Path
) -> AsyncIterator[tuple[Controller, Simulator]]:
    async with _secured(secure_settings, _fleet(secure_settings, lamp_base, keys), keys) as city:
        yield city


async def test_a_secured_city_registers_reports_and_obeys(
    city: tuple[Controller, Simulator],
) -> None:
    controller, sim = city
    for zone in controller.settings.zones:
        await controller.submit_level(zone, 63, "oscore", NOW)
    async with asyncio.timeout(WAIT_S):
        await asyncio.gather(*(node.wait_level(63) for node in sim.nodes.values()))
        await asyncio.gather(*(node.reported.wait() for node in sim.nodes.values()))
    counters = controller.counters
    assert counters["coap.accepted.registration"] >= LAMPS
    assert counters["coap.accepted.report"] >= LAMPS
    assert counters.total("coap.refused") == 0, counters.snapshot()
    assert all(node.refused == 0 for node in sim.nodes.values())


class _Client:
    """A raw CoAP client on loopback: one datagram out, the answer back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.mid = 100

    async def ask(
        self, code: int, options: tuple[tuple[int, bytes], ...], payload: bytes
    ) -> Message:
        self.mid += 1
        datagram = coap.encode(Message(Type.CON, code, self.mid, b"tk", options, payload))
        return await self.send(datagram)

    async def send(self, datagram: bytes) -> Message:
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self.sock, datagram, self.target)
        async with asyncio.timeout(5):
            data = await loop.sock_recv(self.sock, 2048)
        return coap.decode(data)

    def close(self) -> None:
        self.sock.close()


def _lamp_context(keys: Path, lamp_id: str, *, secret: bytes | None = None) -> SecurityContext:
    key = next(k for k in read_keys(keys_file(keys, "lamps")) if k.lamp_id == lamp_id)
    return SecurityContext(key.kid, b"", secret or key.secret, key.salt, sequence=10_000)


def _registration(lamp_id: str) -> bytes:
    return encode_registration(
        Registration(
            lamp_id=lamp_id, seq=1, zone="centre", latitude=36.7, longitude=119.1, wattage=90
        )
    )


async def test_unprotected_forged_replayed_and_impersonating_requests_are_refused(
    secure_settings: Settings, keys: Path
) -> None:
    provision(keys, ["A", "B"])
    async with Controller(secure_settings) as controller:
        client = _Client(controller.address)
        try:
            path = coap.path_options(CONTROLLER_REGISTER)
            plain = await client.ask(coap.POST, path, _registration("A"))
            assert (plain.code, plain.payload) == (coap.UNAUTHORIZED, b"OSCORE is required")

            forged = _lamp_context(keys, "A", secret=bytes(16))
            sealed = forged.protect_request(coap.POST, path, _registration("A"))
            answer = await client.ask(sealed.code, sealed.options, sealed.payload)
            assert answer.code == coap.UNAUTHORIZED
            assert not answer.option_values(Option.OSCORE), "a forger gets nothing protected"

            stranger = SecurityContext(b"\x77", b"", bytes(16))
            sealed = stranger.protect_request(coap.POST, path, _registration("A"))
            unknown = await client.ask(sealed.code, sealed.options, sealed.payload)
            assert unknown.code == coap.UNAUTHORIZED

            lamp_a = _lamp_context(keys, "A")
            sealed = lamp_a.protect_request(coap.POST, path, _registration("A"))
            genuine = await client.ask(sealed.code, sealed.options, sealed.payload)
            inner = lamp_a.unprotect_response(sealed.request_id, genuine.options, genuine.payload)
            assert inner.code == coap.CREATED
            replay = await client.ask(sealed.code, sealed.options, sealed.payload)  # a new MID
            assert (replay.code, replay.option_values(Option.OSCORE)) == (coap.UNAUTHORIZED, [])

            sealed = lamp_a.protect_request(coap.POST, path, _registration("B"))
            other = await client.ask(sealed.code, sealed.options, sealed.payload)
            inner = lamp_a.unprotect_response(sealed.request_id, other.options, other.payload)
            assert inner.code == coap.code(4, 3), "A may not register as B"
            assert "B" not in controller.registry
        finally:
            client.close()
        counters = controller.counters
        assert counters["coap.refused.oscore.unprotected"] == 1
        assert counters["coap.refused.oscore.bad-tag"] == 1
        assert counters["coap.refused.oscore.unknown-kid"] == 1
        assert counters["coap.refused.oscore.replay"] == 1
        assert counters["coap.refused.registration.impersonation"] == 1
        assert counters["coap.accepted.registration"] == 1


async def test_a_lamp_obeys_only_protected_commands(
    city: tuple[Controller, Simulator],
) -> None:
    _, sim = city
    node = next(iter(sim.nodes.values()))
    client = _Client((node.spec.address, node.spec.port))
    try:
        command = encode_command(Command(command_id=999, level=5))
        answer = await client.ask(coap.PUT, coap.path_options(LAMP_COMMAND), command)
        assert answer.code == coap.UNAUTHORIZED
        assert node.lamp.level != 5
        links = await client.ask(coap.GET, coap.path_options((".well-known", "core")), b"")
        assert links.code == coap.CONTENT, "discovery stays open"
    finally:
        client.close()


async def test_both_sides_recover_their_replay_windows_after_a_crash(
    secure_settings: Settings, lamp_base: str, keys: Path
) -> None:
    specs = _fleet(secure_settings, lamp_base, keys)
    # A crash of both sides: the states on disk are the ones written at start, which say
    # the replay windows are unknown (a clean close would have written them).
    sides: tuple[Side, ...] = ("controller", "lamps")
    for side in sides:
        with KeyStore(keys, side):
            crashed = state_file(keys, side).read_bytes()
        state_file(keys, side).write_bytes(crashed)
    async with _secured(secure_settings, specs, keys) as (controller, sim):
        for zone in controller.settings.zones:
            await controller.submit_level(zone, 41, "after a crash", NOW)
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(*(node.wait_level(41) for node in sim.nodes.values()))
        counters = controller.counters
        assert counters["coap.oscore.echo"] >= LAMPS, "each lamp proved its freshness"
        assert counters["coap.oscore.echo-answered"] >= LAMPS, "each lamp asked ours"
        assert counters.total("coap.refused") == 0, counters.snapshot()
    saved = json.loads(state_file(keys, "controller").read_bytes())
    assert saved["clean"] is True
    assert all("window" in entry for entry in saved["contexts"].values())


async def test_aiocoap_speaks_oscore_to_the_controller(
    secure_settings: Settings, keys: Path, tmp_path: Path
) -> None:
    """aiocoap's own OSCORE (a file-backed security context) registers a lamp."""
    provision(keys, ["AIO-1"])
    key = read_keys(keys_file(keys, "lamps"))[0]
    context_dir = tmp_path / "aiocoap-context"
    context_dir.mkdir(mode=0o700)
    (context_dir / "secret.json").write_text(
        json.dumps(
            {
                "sender-id_hex": key.kid.hex(),
                "recipient-id_hex": "",
                "secret_hex": key.secret.hex(),
                "salt_hex": key.salt.hex(),
            }
        )
    )
    async with Controller(secure_settings) as controller:
        host, port = controller.address
        client = await aiocoap.Context.create_client_context()
        try:
            client.client_credentials.load_from_dict(
                {f"coap://{host}:{port}/*": {"oscore": {"basedir": str(context_dir) + "/"}}}
            )
            uri = f"coap://{host}:{port}/{'/'.join(CONTROLLER_REGISTER)}"
            request = aiocoap.Message(
                code=Code.POST, uri=uri, payload=_registration("AIO-1"), content_format=60
            )
            async with asyncio.timeout(10):
                response = await client.request(request).response
            assert response.code == Code.CREATED, response
            assert "AIO-1" in controller.registry
        finally:
            await client.shutdown()
        assert controller.counters["coap.accepted.registration"] == 1


async def test_a_lamp_ignores_an_unprotected_answer_to_a_protected_uplink(
    keys: Path, lamp_base: str
) -> None:
    """Anyone on the path could forge an unprotected 2.01: the lamp does not believe it."""
    spec = build_fleet(1, base_address=lamp_base, port=free_udp_port())[0]
    provision(keys, [spec.lamp_id])
    fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fake.bind(("127.0.0.1", 0))
    fake.setblocking(False)
    loop = asyncio.get_running_loop()
    node = LampNode(spec, fake.getsockname(), clock=loop.time, rng=random.Random(1))
    with KeyStore(keys, "lamps") as lamp_keys:
        node.security = lamp_keys.by_lamp[spec.lamp_id]
        await node.open()
        try:
            registering = asyncio.create_task(node.register())
            async with asyncio.timeout(5):
                data, source = await loop.sock_recvfrom(fake, 2048)
            request = coap.decode(data)
            assert request.option_values(Option.OSCORE), "the uplink is protected"
            forged = Message(Type.ACK, coap.CREATED, request.mid, request.token)
            await loop.sock_sendto(fake, coap.encode(forged), source)
            async with asyncio.timeout(5):
                assert await registering is False
            assert node.refused == 1
            assert not node.is_registered
        finally:
            await node.close()
            fake.close()
