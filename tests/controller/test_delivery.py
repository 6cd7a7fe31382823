"""The delivery engine against a simulated NB-IoT network: loss, latency, silent cells,
restarts and sleepy lamps. Every wait is on an event with a bounded timeout."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from lighting.config import Settings
from lighting.controller import Controller
from lighting.model import FaultKind
from lighting.storage import Repository
from simulator import Cell, LampNode, Simulator, build_fleet
from tests.conftest import free_udp_port, make_settings

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 22:00 in Weifang


def _settings(db_url: str, port: int, **delivery: Any) -> Settings:
    base = {
        "cell_down_after": 8,
        "concurrency": 16,
        "per_cell": 4,
        "max_attempts": 3,
        "backoff_s": 0.2,
        "backoff_max_s": 1.0,
        "jitter_s": 0.2,
        "reconcile_grace_s": 600,
        "wake_window_s": 1.0,
    }
    return make_settings(
        db_url,
        port,
        delivery={**base, **delivery},
        contact={"missed_reports": 100, "check_interval_s": 5},
    )


async def _all_at(nodes: Iterable[LampNode], level: int, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        await asyncio.gather(*(node.wait_level(level) for node in nodes))


async def _first_at(nodes: Iterable[LampNode], level: int, timeout_s: float) -> None:
    """Until one of ``nodes`` has ``level``."""
    waiters = [asyncio.ensure_future(node.wait_level(level)) for node in nodes]
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _city_wide(controller: Controller, level: int) -> list[int]:
    return [
        await controller.submit_level(zone, level, "city-wide", NOW)
        for zone in controller.settings.zones
    ]


async def _running(
    settings: Settings, lamps: int, lamp_base: str
) -> AsyncIterator[tuple[Controller, Simulator]]:
    specs = build_fleet(
        lamps,
        zones=list(settings.zones),
        base_address=lamp_base,
        port=settings.coap.port,
        report_period_s=1,
    )
    async with Controller(settings) as controller, Simulator(specs, controller.address) as sim:
        async with asyncio.timeout(30):
            await sim.wait_registered()
        yield controller, sim


@pytest.fixture
async def lossy_city(
    db_url: str, coap_port: int, lamp_base: str
) -> AsyncIterator[tuple[Controller, Simulator]]:
    # 20 % loss each way loses a transmission's round trip 36 % of the time, so an attempt
    # (3 transmissions) 4.7 % of it. With 3 attempts, about one run in 60 would have one of
    # the 160 reachable lamps lose every acknowledgement, be parked unreachable with the
    # level applied, and see its first command superseded by the second: right, but not
    # what this test counts (seen once in CI). Five attempts make that one run in 28,000.
    settings = _settings(db_url, coap_port, max_attempts=5)
    async for city in _running(settings, 200, lamp_base):
        yield city


async def test_a_city_wide_change_reaches_every_lamp_through_loss_and_a_silent_cell(
    lossy_city: tuple[Controller, Simulator],
) -> None:
    controller, sim = lossy_city
    delivery, faults = controller.delivery, controller.faults
    assert delivery is not None
    assert faults is not None
    assert len(sim.cells) == 5
    for cell in sim.cells.values():
        cell.loss = 0.2
    silent = sim.cells["cell-0002"]
    silent.silent = True
    silent_nodes = [n for n in sim.nodes.values() if n.spec.cell == silent.cell_id]
    reachable = [n for n in sim.nodes.values() if n.spec.cell != silent.cell_id]

    dusk = await _city_wide(controller, 70)
    await _all_at(reachable, 70, timeout_s=60)
    assert all(node.lamp.level == 0 for node in silent_nodes)
    async with asyncio.timeout(60):  # the engine sees that the base station is down
        for change_id in dusk:
            await delivery.wait_settled(change_id)
    assert delivery.cells_down == {silent.cell_id}
    requests_when_down = silent.command_requests

    # A second change while the cell is down: the cell is not sent anything more, and its
    # lamps will get only the latest level, never the stale one.
    dim = await _city_wide(controller, 75)
    await _all_at(reachable, 75, timeout_s=60)
    assert silent.command_requests == requests_when_down

    silent.silent = False  # the base station comes back
    await _all_at(silent_nodes, 75, timeout_s=30)
    async with asyncio.timeout(30):
        for change_id in dim:
            await delivery.wait_delivered(change_id)
    await delivery.flush()
    assert not delivery.cells_down

    # No lamp got a command twice without need: the reachable lamps applied the two levels,
    # the lamps of the silent cell only the latest.
    assert {node.lamp.commands_applied for node in reachable} == {2}
    assert {node.lamp.commands_applied for node in silent_nodes} == {1}
    # The command log agrees with the lamps.
    summaries = [
        await controller.store.call(controller.repository.change_summary, change_id)
        for change_id in dusk + dim
    ]
    assert all(s is not None for s in summaries)
    first = [s for s in summaries[:3] if s is not None]
    second = [s for s in summaries[3:] if s is not None]
    assert sum(s.acknowledged for s in first) == len(reachable)
    assert sum(s.superseded for s in first) == len(silent_nodes)
    assert sum(s.acknowledged for s in second) == 200
    assert all(s.pending == s.failed == 0 for s in summaries if s is not None)
    assert sum(1 for node in sim.nodes.values() if node.lamp.level == 75) == 200
    lamps = await controller.store.call(controller.repository.lamps)
    assert all(lamp.delivered and lamp.desired_level == 75 for lamp in lamps)
    assert sum(cell.dropped for cell in sim.cells.values()) > 100  # loss really happened
    assert await controller.store.call(controller.repository.faults) == []


@pytest.fixture
async def city3(
    db_url: str, coap_port: int, lamp_base: str
) -> AsyncIterator[tuple[Controller, Simulator]]:
    async for city in _running(_settings(db_url, coap_port), 30, lamp_base):
        yield city


async def test_thirty_percent_loss_both_ways_still_leaves_every_lamp_at_its_level(
    lossy_city: tuple[Controller, Simulator],
) -> None:
    # 30 % of datagrams lost each way: a confirmable exchange gets through about half the
    # time, so commands and their acknowledgements are retransmitted, retried, and
    # sometimes superseded by the next change before the controller hears back.
    controller, sim = lossy_city
    delivery = controller.delivery
    assert delivery is not None
    for cell in sim.cells.values():
        cell.loss = 0.3
    await _city_wide(controller, 70)
    last = await _city_wide(controller, 40)
    await _all_at(sim.nodes.values(), 40, timeout_s=60)
    async with asyncio.timeout(60):
        for change_id in last:
            await delivery.wait_delivered(change_id)
    await delivery.flush()
    assert {node.lamp.level for node in sim.nodes.values()} == {40}
    assert {node.lamp.commands_applied for node in sim.nodes.values()} <= {1, 2}
    summaries = [
        await controller.store.call(controller.repository.change_summary, change_id)
        for change_id in last
    ]
    assert sum(s.acknowledged for s in summaries if s is not None) == len(sim.nodes)
    lamps = await controller.store.call(controller.repository.lamps)
    assert all(lamp.delivered and lamp.desired_level == 40 for lamp in lamps)
    assert sum(cell.dropped for cell in sim.cells.values()) > 100  # loss really happened


async def test_a_lamp_that_never_answers_is_marked_unreachable_until_it_speaks(
    city3: tuple[Controller, Simulator],
) -> None:
    controller, sim = city3
    assert controller.delivery is not None
    assert controller.faults is not None
    node = next(n for n in sim.nodes.values() if n.spec.zone == "harbour")
    await sim.silence(node.spec.lamp_id)
    change_id = await controller.submit_level("harbour", 35, "test", NOW)
    async with asyncio.timeout(30):
        await controller.delivery.wait_settled(change_id)
    faults = await controller.store.call(controller.repository.faults)
    assert [(f.lamp_id, f.kind) for f in faults] == [(node.spec.lamp_id, FaultKind.UNREACHABLE)]
    assert node.lamp.level == 0
    lamp = await controller.store.call(controller.repository.lamp, node.spec.lamp_id)
    assert lamp is not None
    assert lamp.status == "unreachable"

    await sim.revive(node.spec.lamp_id)  # it registers again and is given its level
    await _all_at([node], 35, timeout_s=30)
    async with asyncio.timeout(30):
        await controller.faults.wait_resolved(1)
    assert await controller.store.call(controller.repository.faults) == []


async def test_in_flight_commands_per_cell_never_exceed_the_limit(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    settings = _settings(db_url, coap_port, per_cell=3, concurrency=100, jitter_s=0.0)
    specs = build_fleet(
        120, zones=list(settings.zones), base_address=lamp_base, port=coap_port, report_period_s=60
    )
    async with Controller(settings) as controller:
        cells = {f"cell-{i:04d}": Cell(f"cell-{i:04d}", latency_s=0.05) for i in (1, 2, 3)}
        async with Simulator(specs, controller.address, cells=cells) as sim:
            async with asyncio.timeout(30):
                await sim.wait_registered()
            changes = await _city_wide(controller, 55)
            assert controller.delivery is not None
            async with asyncio.timeout(60):
                for change_id in changes:
                    await controller.delivery.wait_delivered(change_id)
    # Measured where the commands arrive: the cells used their allowance and never more.
    assert {cell.max_in_flight for cell in cells.values()} == {3}


async def test_a_restart_in_the_middle_of_a_change_leaves_no_lamp_behind(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    settings = _settings(db_url, coap_port, per_cell=2, jitter_s=0.0)
    specs = build_fleet(
        90, zones=list(settings.zones), base_address=lamp_base, port=coap_port, report_period_s=60
    )
    cells = {f"cell-{i:04d}": Cell(f"cell-{i:04d}", latency_s=0.1) for i in (1, 2, 3)}
    async with Simulator(specs, ("127.0.0.1", coap_port), cells=cells) as sim:
        async with Controller(settings) as controller:
            async with asyncio.timeout(30):
                await sim.wait_registered()
            dusk = await controller.submit_level("centre", 80, "dusk", NOW)
            centre = [n for n in sim.nodes.values() if n.spec.zone == "centre"]
            await _first_at(centre, 80, timeout_s=30)
        # The controller is down mid-change: some lamps have the level, some not yet.
        behind = [n for n in centre if n.lamp.level != 80]
        assert 0 < len(behind) < len(centre)
        async with Controller(settings) as restarted:
            await _all_at(centre, 80, timeout_s=30)
            assert restarted.delivery is not None
            async with asyncio.timeout(30):
                await restarted.delivery.wait_delivered(dusk)
            await restarted.delivery.flush()
            lamps = await restarted.store.call(restarted.repository.lamps, "centre")
            assert all(lamp.delivered for lamp in lamps)
    assert {n.lamp.commands_applied for n in centre} == {1}  # nothing applied twice


async def test_a_normal_stop_lets_the_commands_on_the_air_finish(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    # SIGTERM ends `lighting run` through the same exit: no new command goes out, those on
    # the air are answered and recorded, and what was not sent stays pending for later.
    settings = _settings(db_url, coap_port, per_cell=2, jitter_s=0.0)
    specs = build_fleet(
        60, zones=list(settings.zones), base_address=lamp_base, port=coap_port, report_period_s=60
    )
    cells = {f"cell-{i:04d}": Cell(f"cell-{i:04d}", latency_s=0.15) for i in (1, 2, 3)}
    async with Simulator(specs, ("127.0.0.1", coap_port), cells=cells) as sim:
        async with Controller(settings) as controller:
            async with asyncio.timeout(30):
                await sim.wait_registered()
            await controller.submit_level("centre", 80, "dusk", NOW)
            centre = [n for n in sim.nodes.values() if n.spec.zone == "centre"]
            await _first_at(centre, 80, timeout_s=30)
        repository = Repository.open(settings.database_url, create=False)
        commands = repository.commands(zone="centre")
        repository.close()
    lit = {n.spec.lamp_id for n in centre if n.lamp.level == 80}
    acknowledged = {c.lamp_id for c in commands if c.outcome == "acknowledged"}
    assert 0 < len(lit) < len(centre)
    assert acknowledged == lit  # every lamp that took it is recorded, none is lost
    assert {c.outcome for c in commands} <= {"acknowledged", "pending"}


class SteppedClock:
    """The monotonic clock, with a step forward that tests can take."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


async def test_a_sleepy_lamp_gets_its_command_only_while_it_listens(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    settings = _settings(db_url, coap_port, wake_window_s=1.0, jitter_s=0.0)
    [spec] = build_fleet(
        1, zones=["north"], base_address=lamp_base, port=coap_port, report_period_s=2
    )
    sleepy = replace(spec, sleepy=True, wake_window_s=1.0)
    clock = SteppedClock()
    async with (
        Controller(settings, monotonic=clock) as controller,
        Simulator([sleepy], controller.address) as sim,
    ):
        node = sim[sleepy.lamp_id]
        async with asyncio.timeout(30):
            await sim.wait_registered()
            await node.reported.wait()  # its first report is in: the lamp has said all it had
        assert controller.registry.get(sleepy.lamp_id).queue_mode
        clock.offset += 5.0  # as far as the controller knows, the lamp's window has closed
        seq_before = node.lamp.seq
        change_id = await controller.submit_level("north", 45, "test", NOW)
        await _all_at([node], 45, timeout_s=15)
        assert controller.delivery is not None
        async with asyncio.timeout(10):
            await controller.delivery.wait_delivered(change_id)
    assert controller.counters["delivery.parked.asleep"] == 1  # it waited for the lamp
    assert node.lamp.seq > seq_before  # ... and sent once the lamp had spoken again
    assert node.cell.asleep == 0  # nothing reached the lamp while its radio was off


async def test_a_lamp_that_drifts_from_its_level_is_given_it_again(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    settings = _settings(db_url, coap_port, reconcile_grace_s=1.5)
    async for controller, sim in _running(settings, 6, lamp_base):
        change_id = await controller.submit_level("north", 65, "test", NOW)
        north = [n for n in sim.nodes.values() if n.spec.zone == "north"]
        await _all_at(north, 65, timeout_s=15)
        assert controller.delivery is not None
        async with asyncio.timeout(10):
            await controller.delivery.wait_delivered(change_id)
        drifted = north[0]
        drifted.lamp.level = 10  # a local fault or a manual switch: it reports 10 %
        await _all_at([drifted], 65, timeout_s=15)  # reports every 1 s; grace 1.5 s
        async with asyncio.timeout(10):
            await controller.delivery.wait_idle(drifted.spec.lamp_id)
        await controller.delivery.flush()
        commands = await controller.store.call(
            controller.repository.commands, lamp_id=drifted.spec.lamp_id
        )
        assert commands[0].reason == "lamp reports 10%, should be 65%"
        assert commands[0].outcome == "acknowledged"
        assert controller.counters["delivery.resent"] == 1


async def test_a_newer_level_follows_a_command_still_in_flight(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    settings = _settings(db_url, coap_port, jitter_s=0.0)
    [spec] = build_fleet(
        1, zones=["centre"], base_address=lamp_base, port=coap_port, report_period_s=60
    )
    cell = Cell(spec.cell, latency_s=0.1)
    async with (
        Controller(settings) as controller,
        Simulator([spec], controller.address, cells={spec.cell: cell}) as sim,
    ):
        node = sim[spec.lamp_id]
        async with asyncio.timeout(30):
            await sim.wait_registered()
        await controller.submit_level("centre", 50, "dusk", NOW)
        async with asyncio.timeout(10):
            await cell.arrived.wait()  # the first command is on its way
        later = await controller.submit_level("centre", 90, "override", NOW)
        await _all_at([node], 90, timeout_s=15)
        assert controller.delivery is not None
        async with asyncio.timeout(10):
            await controller.delivery.wait_delivered(later)
    assert node.lamp.commands_applied == 2  # 50 arrived first, then the newer 90


async def test_stopping_mid_change_does_not_blame_the_lamps(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    settings = _settings(db_url, coap_port, max_attempts=1, per_cell=8, jitter_s=0.0)
    specs = build_fleet(
        30, zones=["centre"], base_address=lamp_base, port=coap_port, report_period_s=60
    )
    cell = Cell(specs[0].cell, latency_s=0.2)
    async with Simulator(specs, ("127.0.0.1", coap_port), cells={cell.cell_id: cell}) as sim:
        async with Controller(settings) as controller:
            async with asyncio.timeout(30):
                await sim.wait_registered()
            await controller.submit_level("centre", 60, "dusk", NOW)
            async with asyncio.timeout(10):
                await cell.arrived.wait()  # commands are in flight when the daemon stops
        # Read the record as the stopped daemon left it.
        record = Repository.open_existing(settings.database_url)
        try:
            lamps, faults = record.lamps(), record.faults()
            commands = record.commands()
        finally:
            record.close()
        assert not any(lamp.unreachable for lamp in lamps)
        assert faults == []
        assert "failed" not in {command.outcome for command in commands}
        async with Controller(settings):  # and the change completes after the restart
            await _all_at(sim.nodes.values(), 60, timeout_s=30)


async def test_a_lamp_that_registers_while_a_change_is_recorded_gets_the_new_level(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    # A change takes its lamps from the registry, then records itself (a database write).
    # A lamp whose registration is written in between is not among them and must be given
    # the new level when it registers; it used to be given none (or the zone's old one)
    # until the next change (found by tests/test_kill.py, issue 9).
    settings = _settings(db_url, coap_port, jitter_s=0.0)
    [spec] = build_fleet(1, zones=["centre"], base_address=lamp_base, port=free_udp_port())
    async with Controller(settings) as controller:
        assert controller.ingest is not None
        loop = asyncio.get_running_loop()
        node = LampNode(spec, controller.address, clock=loop.time, rng=random.Random(1))
        await node.open()  # it listens; its registration is handed to the controller below
        try:
            free = threading.Event()
            # The database thread is busy; the registration's write, then the change's, wait
            # behind it in this order (tasks start in the order they were created).
            busy = asyncio.create_task(controller.store.call(free.wait, 30))
            registering = asyncio.create_task(
                controller.ingest.on_registration(node.lamp.registration(), spec.address, spec.port)
            )
            change = asyncio.create_task(controller.submit_level("centre", 60, "dusk", NOW))
            await asyncio.sleep(0)  # one turn of the loop: each task has queued its write
            assert controller.registry.find(spec.lamp_id) is None  # the change cannot see it
            free.set()
            async with asyncio.timeout(10):
                await asyncio.gather(busy, registering, change)
                await node.wait_level(60)
        finally:
            await node.close()


async def test_a_wait_given_up_leaves_no_waiter_behind(
    city3: tuple[Controller, Simulator],
) -> None:
    controller, sim = city3
    assert controller.delivery is not None
    node = next(n for n in sim.nodes.values() if n.spec.zone == "harbour")
    await sim.silence(node.spec.lamp_id)  # the change cannot settle before its retries
    change_id = await controller.submit_level("harbour", 35, "test", NOW)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await controller.delivery.wait_settled(change_id)
    assert controller.delivery._waiters == []
