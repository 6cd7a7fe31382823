"""End to end on loopback: the controller and a simulated city of real CoAP lamps.

Plan changes are fired with the instant passed in, never waited for; faults are awaited on
the fault book's condition with a bounded timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from lighting.cli import app
from lighting.config import Settings
from lighting.controller import Controller
from lighting.model import FaultKind
from schedules import level_at
from simulator import Simulator, build_fleet
from tests.conftest import make_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
LAMPS = 60

City = tuple[Controller, Simulator]


async def _city(settings: Settings, lamp_base: str, period: int = 60) -> AsyncIterator[City]:
    async with Controller(settings) as controller:
        specs = build_fleet(
            LAMPS,
            zones=list(settings.zones),
            base_address=lamp_base,
            port=settings.coap.port,
            report_period_s=period,
        )
        async with Simulator(specs, controller.address) as sim:
            async with asyncio.timeout(30):
                await sim.wait_registered()
            yield controller, sim


@pytest.fixture
async def city(settings: Settings, lamp_base: str) -> AsyncIterator[City]:
    async for pair in _city(settings, lamp_base):
        yield pair


async def test_every_lamp_registers_with_its_zone(city: City) -> None:
    controller, sim = city
    assert len(controller.registry) == LAMPS
    lamps = await controller.store.call(controller.repository.lamps)
    assert {lamp.lamp_id: lamp.zone for lamp in lamps} == {
        lamp_id: node.spec.zone for lamp_id, node in sim.nodes.items()
    }
    assert {lamp.address for lamp in lamps} == {node.spec.address for node in sim.nodes.values()}


@pytest.mark.parametrize(
    ("at", "levels"),
    [
        # main-road: 100 from sunset-10min, 60 from 23:00, 30 from 01:00; residential: 80 from
        # sunset, 40 from 22:00 (lighting/example.toml). Sunset in Weifang is about 16:55.
        (datetime(2026, 11, 24, 23, 30, tzinfo=SHANGHAI), {"centre": 60, "north": 40}),
        (datetime(2026, 11, 25, 2, 0, tzinfo=SHANGHAI), {"centre": 30, "north": 40}),
        (datetime(2026, 11, 24, 18, 0, tzinfo=SHANGHAI), {"centre": 100, "north": 80}),
        (datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI), {"centre": 0, "north": 0}),
    ],
)
async def test_a_plan_change_reaches_every_lamp_and_is_acknowledged(
    city: City, at: datetime, levels: dict[str, int]
) -> None:
    controller, sim = city
    changes = await controller.apply_plan(at)

    plans = controller.plans(date(2026, 11, 24))
    expected = {zone: level_at(plan, at) for zone, plan in plans.items()}
    assert expected == {**levels, "harbour": levels["centre"]}
    for lamp_id, node in sim.nodes.items():
        assert node.lamp.level == expected[node.spec.zone], lamp_id
    assert sum(change.total for change in changes) == LAMPS
    assert all(change.acknowledged == change.total for change in changes)
    commands = await controller.store.call(controller.repository.commands)
    assert len(commands) == LAMPS
    assert {command.outcome for command in commands} == {"acknowledged"}
    assert all(command.latency_ms is not None for command in commands)


async def test_a_lamp_failure_is_stored_and_shown_to_the_field_crew(
    city: City, settings: Settings
) -> None:
    controller, sim = city
    await controller.apply_level("centre", 100, "test", datetime(2026, 11, 24, 20, tzinfo=SHANGHAI))
    failing = next(n for n in sim.nodes.values() if n.spec.zone == "centre")
    sim.inject(failing.spec.lamp_id, FaultKind.LAMP_FAILURE)
    assert controller.faults is not None
    async with asyncio.timeout(10):
        await controller.faults.wait_opened(1)

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["faults", "--db", settings.database_url, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert [(f["lamp"], f["kind"], f["zone"], f["status"]) for f in shown] == [
        (failing.spec.lamp_id, "lamp-failure", "centre", "open")
    ]
    assert shown[0]["latitude"] == failing.spec.latitude
    assert shown[0]["position"] == [failing.spec.latitude, failing.spec.longitude]

    sim.inject(failing.spec.lamp_id, FaultKind.LAMP_FAILURE, active=False)
    async with asyncio.timeout(10):
        await controller.faults.wait_resolved(1)
    none_left = await asyncio.to_thread(
        CliRunner().invoke, app, ["faults", "--db", settings.database_url, "--format", "json"]
    )
    assert none_left.exit_code == 1, none_left.output
    assert json.loads(none_left.output) == []


async def test_a_silent_lamp_is_marked_out_of_contact_and_welcomed_back(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    settings = make_settings(
        db_url, coap_port, contact={"missed_reports": 2, "check_interval_s": 0.2}
    )
    async for controller, sim in _city(settings, lamp_base, period=1):
        await controller.apply_level(
            "north", 40, "test", datetime(2026, 11, 24, 22, tzinfo=SHANGHAI)
        )
        silent = next(n for n in sim.nodes.values() if n.spec.zone == "north")
        await sim.silence(silent.spec.lamp_id)
        assert controller.faults is not None
        async with asyncio.timeout(15):
            await controller.faults.wait_opened(1)
        faults = await controller.store.call(controller.repository.faults)
        assert [(f.lamp_id, f.kind) for f in faults] == [
            (silent.spec.lamp_id, FaultKind.COMMS_LOST)
        ]
        lamp = await controller.store.call(controller.repository.lamp, silent.spec.lamp_id)
        assert lamp is not None
        assert lamp.status == "out-of-contact"

        silent.lamp.level = 0  # it lost its state while away
        await sim.revive(silent.spec.lamp_id)
        async with asyncio.timeout(15):
            await controller.faults.wait_resolved(1)
            await silent.registered.wait()
            await silent.wait_level(40)  # the controller gives it its zone's level at once
        assert await controller.store.call(controller.repository.faults) == []


async def test_a_restarted_controller_still_knows_and_commands_its_lamps(
    settings: Settings, lamp_base: str
) -> None:
    async for controller, sim in _city(settings, lamp_base):
        await controller.__aexit__(None, None, None)  # the daemon stops; the lamps stay
        async with Controller(settings) as restarted:
            assert len(restarted.registry) == LAMPS
            change = await restarted.apply_level(
                "harbour", 30, "after restart", datetime(2026, 11, 24, 23, tzinfo=SHANGHAI)
            )
            assert change.acknowledged == change.total == LAMPS // 3
        assert {n.lamp.level for n in sim.nodes.values() if n.spec.zone == "harbour"} == {30}


async def test_the_daemon_applies_the_level_in_force_and_schedules_the_rest(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    # A fixed clock years ahead, so that no scheduled job falls due during the test.
    now = datetime(2030, 1, 15, 23, 30, tzinfo=SHANGHAI)
    settings = make_settings(db_url, coap_port, delivery={"jitter_s": 0.05})
    async with Controller(settings, clock=lambda: now) as controller:
        specs = build_fleet(
            LAMPS,
            zones=list(settings.zones),
            base_address=lamp_base,
            port=coap_port,
            report_period_s=60,
        )
        async with Simulator(specs, controller.address) as sim:
            async with asyncio.timeout(30):
                await sim.wait_registered()
            stop = asyncio.Event()
            serving = asyncio.create_task(controller.serve(stop))
            by_zone = {"centre": 60, "north": 40, "harbour": 60}  # 23:30 in the example plan
            try:
                async with asyncio.timeout(30):
                    await asyncio.gather(
                        *(node.wait_level(by_zone[node.spec.zone]) for node in sim.nodes.values())
                    )
                assert controller.scheduled is not None
                jobs = dict(controller.scheduled.next_runs())
                assert "change:centre:2030-01-16T01:00:00+08:00" in jobs
                assert "change:north:2030-01-15T22:00:00+08:00" not in jobs  # in the past
                # What a job of the night calls: the change runs in the daemon's task group.
                await controller._scheduled_change("centre", 70, "program main-road", now)
                async with asyncio.timeout(30):
                    await asyncio.gather(
                        *(
                            node.wait_level(70)
                            for node in sim.nodes.values()
                            if node.spec.zone == "centre"
                        )
                    )
            finally:
                stop.set()
                async with asyncio.timeout(10):
                    await serving
