"""A city from a profile, on one shared socket, with the real controller: every lamp at its
own address, any CoAP client can use a lamp, and faults injected through the simulator's
control endpoint (or on the profile's schedule) reach the controller as faults."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiocoap
import pytest
from aiocoap.numbers.codes import Code
from typer.testing import CliRunner

from lighting.config import Settings
from lighting.const import ACTIVE
from lighting.controller import Controller
from lighting.controller.events import Subscription
from lighting.model import Command, FaultKind
from lighting.notices import FaultNotice
from lighting.protocol import decode_ack, decode_report, encode_command
from simulator import Simulator, build_city
from simulator.cli import sim_app
from simulator.control import ControlServer, request
from simulator.profile import parse_profile
from tests.conftest import free_udp_port, make_settings

WAIT_S = 20
NIGHT = datetime(2026, 11, 24, 22, tzinfo=ZoneInfo("Asia/Shanghai"))
K = FaultKind


def _profile(base: str, port: int, schedule: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    quiet = {"latency_s": 0.0, "loss": 0.0}
    return {
        "city": {
            "name": "test",
            "timezone": "Asia/Shanghai",
            "base_address": base,
            "port": port,
            "report_period_s": 600,
        },
        "fallback": {"program": "none"},
        "network": {
            "lamps_per_cell": 10,
            "coverage": {
                "normal": {**quiet, "share": 1.0},
                "extended": quiet,
                "extreme": quiet,
            },
        },
        "models": [{"name": "led-60", "wattage": 60, "noise": 0, "tolerance": 0}],
        "zones": [
            {
                "name": "centre",
                "bbox": [36.70, 119.15, 36.72, 119.17],
                "lamps": {"led-60": 20},
                "lamps_per_cabinet": 5,
            }
        ],
        "faults": {"schedule": schedule or []},
    }


@pytest.fixture
def settings(db_url: str, coap_port: int) -> Settings:
    return make_settings(db_url, coap_port, faults={"settle_s": 0, "confirm_reports": 2})


async def _running(
    settings: Settings, base: str, schedule: list[dict[str, Any]] | None = None
) -> AsyncIterator[tuple[Controller, Simulator]]:
    city = build_city(parse_profile(_profile(base, free_udp_port(), schedule), "test"))
    async with Controller(settings) as controller:
        sim = Simulator.for_city(city, controller.address, uplink_timeout_s=2.0)
        async with sim:
            async with asyncio.timeout(WAIT_S):
                await sim.wait_registered()
                # ... and each has sent its first report: the city is quiet from here on.
                await asyncio.gather(*(node.reported.wait() for node in sim.nodes.values()))
            yield controller, sim


@pytest.fixture
async def city(settings: Settings, lamp_base: str) -> AsyncIterator[tuple[Controller, Simulator]]:
    async for pair in _running(settings, lamp_base):
        yield pair


async def _notice(feed: Subscription, lamp_id: str, kind: FaultKind, event: str) -> FaultNotice:
    async with asyncio.timeout(WAIT_S):
        while True:
            notice = await feed.get()
            if isinstance(notice, FaultNotice) and (notice.lamp_id, notice.kind, notice.event) == (
                lamp_id,
                kind,
                event,
            ):
                return notice


async def test_one_socket_serves_every_lamp_at_its_own_address(
    city: tuple[Controller, Simulator],
) -> None:
    controller, sim = city
    assert sim.mode == "shared"
    assert len(sim.endpoints) == 1
    lamps = await controller.store.call(controller.repository.lamps)
    assert {(lamp.lamp_id, lamp.address, lamp.port) for lamp in lamps} == {
        (node.spec.lamp_id, node.spec.address, node.spec.port) for node in sim.nodes.values()
    }
    await controller.apply_level("centre", 70, "night", NIGHT)
    async with asyncio.timeout(WAIT_S):
        await asyncio.gather(*(node.wait_level(70) for node in sim.nodes.values()))


@pytest.fixture
async def client() -> AsyncIterator[aiocoap.Context]:
    context = await aiocoap.Context.create_client_context(transports=["udp6"])
    yield context
    await context.shutdown()


async def _ask(client: aiocoap.Context, message: aiocoap.Message) -> aiocoap.Message:
    async with asyncio.timeout(WAIT_S):
        return await client.request(message).response


async def test_a_standard_coap_client_discovers_reads_and_commands_a_lamp(
    city: tuple[Controller, Simulator], client: aiocoap.Context
) -> None:
    _, sim = city
    node = sim.nodes["L00007"]
    base = f"coap://{node.spec.address}:{node.spec.port}"
    links = await _ask(client, aiocoap.Message(code=Code.GET, uri=f"{base}/.well-known/core"))
    assert links.code == Code.CONTENT
    assert b"</cmd>" in links.payload
    assert b"</state>" in links.payload
    put = aiocoap.Message(code=Code.PUT, uri=f"{base}/cmd", payload=encode_command(Command(5, 35)))
    ack = await _ask(client, put)
    assert (ack.code, decode_ack(ack.payload).level) == (Code.CHANGED, 35)
    assert node.lamp.level == 35
    state = await _ask(
        client,
        aiocoap.Message(code=Code.GET, uri=f"{base}/state", transport_tuning=aiocoap.Unreliable),
    )
    report = decode_report(state.payload)
    assert (report.lamp_id, report.level, report.power_w) == ("L00007", 35, 21.0)
    missing = await _ask(client, aiocoap.Message(code=Code.GET, uri=f"{base}/nothing"))
    assert missing.code == Code.NOT_FOUND
    others = {n.spec.lamp_id: n.lamp.level for n in sim.nodes.values() if n is not node}
    assert set(others.values()) == {0}  # only the lamp at that address took the command


async def test_a_datagram_for_no_lamp_is_dropped_without_an_answer(
    city: tuple[Controller, Simulator], client: aiocoap.Context
) -> None:
    _, sim = city
    (endpoint,) = sim.endpoints.values()
    node = sim.nodes["L00001"]
    stranger = node.spec.address.rsplit(".", 1)[0] + ".250"  # in the range, held by no lamp
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.sendto(b"\x40\x01\x00\x01", (stranger, node.spec.port))
    # A request to a real lamp, sent after it, is answered after the stranger was handled.
    await _ask(
        client,
        aiocoap.Message(code=Code.GET, uri=f"coap://{node.spec.address}:{node.spec.port}/state"),
    )
    assert endpoint.unknown == 1


async def test_faults_injected_through_the_control_endpoint_reach_the_controller(
    city: tuple[Controller, Simulator], tmp_path: Path
) -> None:
    controller, sim = city
    path = tmp_path / "sim.sock"
    async with ControlServer(sim, path):
        with controller.events.subscribe("test") as feed:
            answer = await request(path, {"op": "fault", "kind": "lamp-failure", "lamp": "L00003"})
            assert answer == {"ok": True, "kind": "lamp-failure", "active": True, "lamps": 1}
            await _notice(feed, "L00003", K.LAMP_FAILURE, "opened")

            # The command line does the same (it runs its own event loop: off this one).
            result = await asyncio.to_thread(
                CliRunner().invoke,
                sim_app,
                [
                    "fault",
                    "--kind",
                    "supply-loss",
                    "--cabinet",
                    "centre-c02",
                    "--control",
                    str(path),
                ],
            )
            assert result.exit_code == 0, result.output
            assert "5 lamps" in result.output
            cabinet = [f"L{n:05d}" for n in range(6, 11)]
            heard: set[str] = set()
            async with asyncio.timeout(WAIT_S):
                while heard != set(cabinet):  # each lamp's last gasp (opened or grouped)
                    notice = await feed.get()
                    if isinstance(notice, FaultNotice) and notice.kind is K.SUPPLY_LOSS:
                        heard.add(notice.lamp_id)
            status = await request(path, {"op": "status"})
            assert (status["lamps"], status["offline"], status["registered"]) == (20, 5, 15)

            answer = await request(
                path,
                {"op": "fault", "kind": "supply-loss", "cabinet": "centre-c02", "active": False},
            )
            assert answer["lamps"] == 5
            async with asyncio.timeout(WAIT_S):
                await sim.wait_registered(cabinet)  # powered up: they register again
            # Their reports no longer say supply-loss: the controller resolves it.
            await asyncio.gather(*(sim.nodes[lamp_id].send_report() for lamp_id in cabinet))
            active = await controller.store.call(controller.repository.faults, status=ACTIVE)
            assert sorted((f.lamp_id, f.kind) for f in active) == [("L00003", K.LAMP_FAILURE)]

        refused = await request(path, {"op": "fault", "kind": "lamp-failure", "lamp": "L99999"})
        assert refused == {"ok": False, "error": "no lamp 'L99999' in this fleet"}
        unknown = await request(path, {"op": "fault", "kind": "meltdown", "lamp": "L00001"})
        assert not unknown["ok"]
        assert "meltdown" in unknown["error"]
        lamp = await request(path, {"op": "lamp", "lamp": "L00003"})
        assert (lamp["faults"], lamp["power_w"], lamp["cabinet"]) == (
            ["lamp-failure"],
            0.0,
            "centre-c01",
        )


async def test_a_silent_cell_goes_quiet_and_comes_back(
    city: tuple[Controller, Simulator], tmp_path: Path
) -> None:
    _, sim = city
    path = tmp_path / "sim.sock"
    async with ControlServer(sim, path):
        answer = await request(path, {"op": "fault", "kind": "cell-silent", "cell": "cell-0001"})
        assert answer["lamps"] == 10
        silent = [n for n in sim.nodes.values() if n.spec.cell == "cell-0001"]
        dropped = silent[0].cell.dropped
        await silent[0].send_report()
        assert silent[0].cell.dropped > dropped
        assert silent[0].uplinks_failed == 1
        await request(
            path, {"op": "fault", "kind": "cell-silent", "cell": "cell-0001", "active": False}
        )
        await silent[0].send_report()
        assert silent[0].uplinks_failed == 1


async def test_the_command_says_when_no_simulator_listens(tmp_path: Path) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke,
        sim_app,
        ["fault", "--kind", "reboot", "--lamp", "L00001", "--control", str(tmp_path / "none.sock")],
    )
    assert result.exit_code == 3
    assert "no simulator answers" in result.output


async def test_planned_faults_fire_and_clear_on_schedule(
    settings: Settings, lamp_base: str
) -> None:
    schedule = [{"at_s": 0, "kind": "driver-failure", "lamp": "L00004", "duration_s": 0.5}]
    async for controller, _sim in _running(settings, lamp_base, schedule):
        with controller.events.subscribe("test") as feed:
            # Fired at start: it may already be open; its clearing comes half a second later.
            await _notice(feed, "L00004", K.DRIVER_FAILURE, "resolved")


async def test_the_lamps_talk_to_a_controller_on_aiocoap_the_reference(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    """The lamps' own CoAP (uplinks, separate answers, commands) against aiocoap's server."""
    settings = make_settings(db_url, coap_port)
    coap = settings.coap.model_copy(update={"stack": "aiocoap"})
    settings = settings.model_copy(update={"coap": coap})
    async for controller, sim in _running(settings, lamp_base):
        stored = await controller.store.call(controller.repository.lamps)
        assert {lamp.lamp_id for lamp in stored} == set(sim.nodes)
        assert {node.reported.is_set() for node in sim.nodes.values()} == {True}
        await controller.apply_level("centre", 55, "night", NIGHT)
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(*(node.wait_level(55) for node in sim.nodes.values()))
        assert sum(node.uplinks_failed for node in sim.nodes.values()) == 0
