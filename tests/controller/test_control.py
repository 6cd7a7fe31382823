"""The control channel, end to end: a real daemon with its Unix socket, a simulated city of
real CoAP lamps, and ``ControlClient`` as the dashboard and the CLI use it.

The daemon's clock runs from a fixed instant (23:30 in Weifang, when the main road is at 60 %
and the residential zones at 40 %) so that the plan in force is known; waits are on events
with bounded timeouts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lighting.client import ControlClient, NoDaemonError, RefusedError
from lighting.config import Settings
from lighting.controller import Controller
from lighting.errors import ConfigError
from lighting.model import FaultKind
from lighting.notices import ACKNOWLEDGED, OPENED, FaultNotice
from simulator import Simulator, build_fleet
from tests.conftest import make_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 24, 23, 30, tzinfo=SHANGHAI)
LAMPS = 12
WAIT_S = 20

City = tuple[Controller, Simulator, ControlClient]


def running_from(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``start`` and runs at the real pace."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


@pytest.fixture
def control_settings(db_url: str, coap_port: int, tmp_path: Path) -> Settings:
    return make_settings(
        db_url,
        coap_port,
        delivery={"concurrency": 32, "jitter_s": 0.05},
        control={"socket": str(tmp_path / "c.sock")},
    )


@pytest.fixture
async def city(control_settings: Settings, lamp_base: str) -> AsyncIterator[City]:
    settings = control_settings
    async with Controller(settings, clock=running_from(START)) as controller:
        specs = build_fleet(
            LAMPS, zones=list(settings.zones), base_address=lamp_base, port=settings.coap.port
        )
        async with Simulator(specs, controller.address) as sim:
            async with asyncio.timeout(WAIT_S):
                await sim.wait_registered()
            await controller.apply_plan(controller.clock())
            async with ControlClient(settings.control.socket) as client:
                yield controller, sim, client


async def test_hello_names_the_site_and_its_zones(city: City) -> None:
    controller, _, client = city
    hello = await client.hello()
    assert hello["site"] == "Weifang"
    assert hello["zones"] == list(controller.settings.zones)
    assert hello["lamps"] == LAMPS


async def test_the_snapshot_counts_the_known_fleet(city: City) -> None:
    _, sim, client = city
    view = await client.snapshot()
    assert view.at.astimezone(SHANGHAI).date() == START.date()
    by_zone = {zone.zone: zone for zone in view.zones}
    for zone, shown in by_zone.items():
        lamps = [node for node in sim.nodes.values() if node.spec.zone == zone]
        assert shown.lamps == len(lamps)
        assert shown.out_of_contact == 0
    assert by_zone["centre"].level_planned == 60
    assert by_zone["north"].level_planned == 40
    assert by_zone["centre"].level_in_force == 60
    assert view.lamps == LAMPS
    assert view.sunset is not None
    assert view.sunset.astimezone(SHANGHAI).hour == 16
    assert sum(cell.acknowledged for cell in view.delivery) == LAMPS
    assert "centre 60 %" in view.delivery_change


async def test_a_zone_override_reaches_its_lamps_and_ends_when_cancelled(city: City) -> None:
    controller, sim, client = city
    centre = [node for node in sim.nodes.values() if node.spec.zone == "centre"]
    others = [node for node in sim.nodes.values() if node.spec.zone != "centre"]
    before = {node.spec.lamp_id: node.lamp.level for node in others}

    shown = await client.override(zone="centre", level=90, minutes=30, by="duty-officer")
    assert (shown.zone, shown.level, shown.by) == ("centre", 90, "duty-officer")
    async with asyncio.timeout(WAIT_S):
        await asyncio.gather(*(node.wait_level(90) for node in centre))
    assert {node.spec.lamp_id: node.lamp.level for node in others} == before

    view = await client.snapshot()
    assert [o.override_id for o in view.overrides] == [shown.override_id]
    assert {z.zone: z.level_planned for z in view.zones}["centre"] == 90

    await client.cancel(shown.override_id, by="duty-officer")
    async with asyncio.timeout(WAIT_S):
        await asyncio.gather(*(node.wait_level(60) for node in centre))
    stored = await controller.store.call(controller.repository.overrides)
    assert stored == []


async def test_a_lamp_override_holds_one_lamp_only(city: City) -> None:
    _, sim, client = city
    node = next(node for node in sim.nodes.values() if node.spec.zone == "north")
    await client.override(lamp=node.spec.lamp_id, level=100, minutes=5, by="crew-7")
    async with asyncio.timeout(WAIT_S):
        await node.wait_level(100)
    neighbours = [n for n in sim.nodes.values() if n.spec.zone == "north" and n is not node]
    assert {n.lamp.level for n in neighbours} == {40}


async def test_a_fault_is_announced_and_acknowledged_through_the_channel(city: City) -> None:
    controller, sim, client = city
    await client.subscribe()
    lamp_id = next(iter(sim.nodes))
    sim.inject(lamp_id, FaultKind.LAMP_FAILURE)
    await sim[lamp_id].send_report()

    async def next_fault(event: str) -> FaultNotice:
        async for notice in client.notices():
            if isinstance(notice, FaultNotice) and notice.event == event:
                return notice
        raise AssertionError("the channel closed")

    async with asyncio.timeout(WAIT_S):
        opened = await next_fault(OPENED)
    assert (opened.lamp_id, opened.kind) == (lamp_id, FaultKind.LAMP_FAILURE)
    listed = await client.faults(zone=opened.zone)
    assert opened.fault_id in [fault.fault_id for fault in listed]

    answer = await client.acknowledge(opened.fault_id, by="night-shift")
    assert answer["status"] == "acknowledged"
    async with asyncio.timeout(WAIT_S):
        acknowledged = await next_fault(ACKNOWLEDGED)
    assert (acknowledged.fault_id, acknowledged.by) == (opened.fault_id, "night-shift")
    stored = await controller.store.call(controller.repository.fault, opened.fault_id)
    assert stored.acknowledged_by == "night-shift"


async def test_a_lamp_view_tells_its_night(city: City) -> None:
    _, sim, client = city
    lamp_id = next(iter(sim.nodes))
    await sim[lamp_id].send_report()
    view = await client.lamp(lamp_id)
    assert view.lamp_id == lamp_id
    assert view.commands
    assert view.commands[0].outcome == "acknowledged"
    with pytest.raises(RefusedError, match="no lamp"):
        await client.lamp("no-such-lamp")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"op": "override", "zone": "centre", "level": 250, "minutes": 5, "by": "x"}, "level"),
        ({"op": "override", "zone": "nowhere", "level": 50, "minutes": 5, "by": "x"}, "zone"),
        ({"op": "override", "zone": "centre", "level": 50, "minutes": 5}, "by"),
        ({"op": "acknowledge", "fault": 999999, "by": "x"}, "999999"),
        ({"op": "energy", "nights": 0}, "nights"),
        ({"op": "reboot-the-city"}, "unknown op"),
    ],
)
async def test_bad_requests_are_refused_and_counted(
    city: City, fields: dict[str, object], reason: str
) -> None:
    controller, _, client = city
    op = str(fields.pop("op"))
    with pytest.raises(RefusedError, match=reason):
        await client.request(op, **fields)
    assert controller.counters["control.refused"] >= 1
    assert (await client.hello())["lamps"] == LAMPS


async def test_garbage_on_the_socket_is_refused_and_the_daemon_serves_on(city: City) -> None:
    _, _, client = city
    reader, writer = await asyncio.open_unix_connection(client.path)
    writer.write(b"\xff\xfe not json\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.readline(), WAIT_S)
    assert b'"ok":false' in answer
    writer.close()
    await writer.wait_closed()
    assert (await client.hello())["lamps"] == LAMPS


async def test_a_view_started_before_the_daemon_waits_for_it(
    control_settings: Settings,
) -> None:
    socket_path = control_settings.control.socket
    with pytest.raises(NoDaemonError):
        await ControlClient(socket_path).connect(wait_s=0)
    waiting = asyncio.create_task(ControlClient(socket_path).connect(wait_s=WAIT_S))
    async with Controller(control_settings, clock=running_from(START)):
        client = await asyncio.wait_for(waiting, WAIT_S)
        async with client:
            assert (await client.hello())["lamps"] == 0
        assert client.lost.is_set()
    assert not await asyncio.to_thread(Path(socket_path).exists)


async def test_a_second_daemon_on_the_same_socket_is_refused(
    control_settings: Settings, coap_port: int
) -> None:
    async with Controller(control_settings, clock=running_from(START)):
        other = control_settings.model_copy(
            update={"coap": control_settings.coap.model_copy(update={"port": 0})}
        )
        with pytest.raises(ConfigError, match="another daemon"):
            async with Controller(other, clock=running_from(START)):
                pass


async def test_a_stale_socket_of_a_dead_daemon_is_replaced(control_settings: Settings) -> None:
    import socket  # noqa: PLC0415 - only this test makes a dead socket

    path = Path(control_settings.control.socket)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what a killed daemon leaves
    async with (
        Controller(control_settings, clock=running_from(START)),
        ControlClient(path) as client,
    ):
        assert (await client.hello())["version"] == 1


async def test_views_are_told_when_the_daemon_stops(control_settings: Settings) -> None:
    async with Controller(control_settings, clock=running_from(START)):
        client = await ControlClient(control_settings.control.socket).connect()
        await client.subscribe()
    async with asyncio.timeout(WAIT_S):
        await client.lost.wait()
    with pytest.raises(NoDaemonError):
        await client.hello()
    await client.close()


async def test_a_daemon_stopping_under_its_views_logs_no_error(
    control_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # A view's task cancelled at shutdown made asyncio's stream server log an error
    # ("Exception in callback ... CancelledError", Python 3.11): the daemon ends its views'
    # own tasks instead, and a normal stop says nothing alarming.
    async with Controller(control_settings, clock=running_from(START)):
        clients = [await ControlClient(control_settings.control.socket).connect() for _ in "ab"]
        await clients[0].subscribe()
        assert (await clients[1].hello())["lamps"] == 0
    for client in clients:
        async with asyncio.timeout(WAIT_S):
            await client.lost.wait()
        await client.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
