"""Faults found end to end on loopback: the controller's rules over real reports from
simulated lamps, the life of a fault through the fault book, and a silent cell grouped into
one incident. Reports are sent on demand (``send_report`` returns once the controller has
stored and judged it), so nothing waits on a report period."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from lighting.config import Settings
from lighting.const import ACTIVE
from lighting.controller import Controller
from lighting.controller.events import Subscription
from lighting.controller.faults import FaultBook
from lighting.model import FaultKind
from lighting.notices import GROUPED, OPENED, RESOLVED, FaultNotice, IncidentNotice, Notice
from lighting.storage import FaultRecord
from simulator import LampNode, Simulator, build_fleet
from tests.conftest import make_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 11, 24, 22, tzinfo=SHANGHAI)
DAY = datetime(2026, 11, 25, 10, tzinfo=SHANGHAI)
K = FaultKind

City = tuple[Controller, Simulator]


async def _city(settings: Settings, lamp_base: str, lamps: int, period: int) -> AsyncIterator[City]:
    async with Controller(settings) as controller:
        specs = build_fleet(
            lamps,
            zones=["centre"],
            base_address=lamp_base,
            port=settings.coap.port,
            report_period_s=period,
        )
        async with Simulator(specs, controller.address) as sim:
            async with asyncio.timeout(30):
                await sim.wait_registered()
            yield controller, sim


@pytest.fixture
async def city(db_url: str, coap_port: int, lamp_base: str) -> AsyncIterator[City]:
    # Judge at once (no settling time), on two reports in a row.
    settings = make_settings(db_url, coap_port, faults={"settle_s": 0, "confirm_reports": 2})
    async for pair in _city(settings, lamp_base, lamps=8, period=600):
        yield pair


def _book(controller: Controller) -> FaultBook:
    assert controller.faults is not None
    return controller.faults


async def _reports(nodes: list[LampNode], count: int = 2) -> None:
    for _ in range(count):
        await asyncio.gather(*(node.send_report() for node in nodes))


async def _active(controller: Controller) -> list[tuple[str, FaultKind, str]]:
    found: list[FaultRecord] = await controller.store.call(
        controller.repository.faults, status=ACTIVE
    )
    return sorted((f.lamp_id, f.kind, f.source) for f in found)


def _drain(feed: Subscription) -> list[Notice]:
    """The notices waiting in ``feed``."""
    found = []
    while feed.pending():
        found.append(feed.get_nowait())
    return found


def _faults_in(feed: Subscription) -> list[FaultNotice]:
    return [notice for notice in _drain(feed) if isinstance(notice, FaultNotice)]


async def test_a_day_burner_is_found_and_clears_when_the_relay_is_fixed(city: City) -> None:
    controller, sim = city
    nodes = list(sim.nodes.values())
    await controller.apply_level("centre", 0, "day", DAY)
    burner = nodes[3]
    burner.lamp.relay_stuck = True
    with controller.events.subscribe("test") as feed:
        await _reports(nodes[:1], 2)
        await _reports([burner], 1)
        assert await _active(controller) == []  # one report is not enough
        await _reports([burner], 1)
        assert await _active(controller) == [(burner.spec.lamp_id, K.DAY_BURNER, "controller")]
        (notice,) = _faults_in(feed)
        assert (notice.event, notice.kind, notice.lamp_id) == (
            OPENED,
            K.DAY_BURNER,
            burner.spec.lamp_id,
        )
        assert notice.latitude == burner.spec.latitude

        burner.lamp.relay_stuck = None  # repaired
        await _reports([burner], 2)
        assert await _active(controller) == []
        assert [(n.event, n.kind) for n in _faults_in(feed)] == [(RESOLVED, K.DAY_BURNER)]


async def test_a_report_overtaken_by_a_fault_event_does_not_undo_it(city: City) -> None:
    # NB-IoT reorders: the lamp's report (failure on) is made before it clears the fault,
    # but reaches the controller after the clearing event. The event is its newest word.
    controller, sim = city
    node = next(iter(sim.nodes.values()))
    lamp_id = node.spec.lamp_id
    raised = node.lamp.set_fault(K.LAMP_FAILURE, True, node.clock())
    early = node.lamp.report(node.clock())
    cleared = node.lamp.set_fault(K.LAMP_FAILURE, False, node.clock())
    assert raised is not None
    assert cleared is not None
    assert raised.seq < early.seq < cleared.seq
    assert K.LAMP_FAILURE in early.faults
    book = _book(controller)
    ingest = controller.ingest
    assert ingest is not None
    await ingest.on_fault(raised)
    await ingest.on_fault(cleared)
    await ingest.on_report(early)  # late
    assert await _active(controller) == []
    assert (book.opened, book.resolved) == (1, 1)
    await ingest.on_fault(raised)  # a late copy of the first event
    assert await _active(controller) == []
    assert controller.counters["faults.events_stale"] == 1

    # A newer report still speaks for every kind.
    node.lamp.set_fault(K.LAMP_FAILURE, True, node.clock())
    await ingest.on_report(node.lamp.report(node.clock()))
    assert await _active(controller) == [(lamp_id, K.LAMP_FAILURE, "lamp")]


async def test_power_too_high_is_found_acknowledged_and_closed_by_a_crew(city: City) -> None:
    controller, sim = city
    book = _book(controller)
    nodes = list(sim.nodes.values())
    await controller.apply_level("centre", 60, "night", NIGHT)
    ageing = nodes[1]
    ageing.lamp.power_scale = 1.6  # 96 W drawn where 60 W are due
    await _reports(nodes, 2)
    assert await _active(controller) == [(ageing.spec.lamp_id, K.POWER_HIGH, "controller")]

    (fault,) = await controller.store.call(controller.repository.faults, status=ACTIVE)
    acked = await book.acknowledge(fault.fault_id, "operator-li")
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", "operator-li")
    ageing.lamp.power_scale = 1.0  # the crew swaps the driver
    closed = await book.close(fault.fault_id, "crew-7", "driver replaced")
    assert (closed.status, closed.resolved_by, closed.note) == (
        "resolved",
        "crew-7",
        "driver replaced",
    )
    await _reports([ageing], 2)
    assert await _active(controller) == []


async def test_a_dark_lamp_is_a_night_outage_unless_it_says_why(city: City) -> None:
    controller, sim = city
    nodes = list(sim.nodes.values())
    await controller.apply_level("centre", 100, "night", NIGHT)
    dark, failed = nodes[0], nodes[5]
    dark.lamp.relay_stuck = False
    sim.inject(failed.spec.lamp_id, K.LAMP_FAILURE)
    await _reports(nodes, 2)
    assert await _active(controller) == sorted(
        [
            (dark.spec.lamp_id, K.NIGHT_OUTAGE, "controller"),
            (failed.spec.lamp_id, K.LAMP_FAILURE, "lamp"),
        ]
    )


async def test_a_silent_cell_is_one_incident_not_a_fault_per_lamp(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    settings = make_settings(
        db_url,
        coap_port,
        contact={"missed_reports": 2, "check_interval_s": 0.2},
        faults={"incident_min_lamps": 5, "incident_share": 0.5},
    )
    async for controller, sim in _city(settings, lamp_base, lamps=60, period=1):
        book = _book(controller)
        cell = sim.cells["cell-0002"]  # 20 of the 60 lamps
        silent = [node for node in sim.nodes.values() if node.spec.cell == cell.cell_id]
        assert len(silent) == 20
        with controller.events.subscribe("test") as feed:
            cell.silent = True
            async with asyncio.timeout(20):
                await book.wait_incidents(1)
                await book.wait_opened(20)
            notices = _drain(feed)
        assert (
            await controller.store.call(controller.repository.faults, status=ACTIVE, grouped=False)
            == []
        )
        (incident,) = await controller.store.call(controller.repository.incidents)
        assert (incident.kind, incident.cell, incident.lamps) == (K.COMMS_LOST, cell.cell_id, 20)
        opened = [n for n in notices if isinstance(n, IncidentNotice) and n.event == OPENED]
        assert len(opened) == 1
        # At most the few faults before the incident was recognised went out alone.
        alone = [n for n in notices if isinstance(n, FaultNotice) and n.event == OPENED]
        assert len(alone) < settings.faults.incident_min_lamps
        grouped = {n.lamp_id for n in notices if isinstance(n, FaultNotice) and n.event == GROUPED}
        assert grouped <= {node.spec.lamp_id for node in silent}

        cell.silent = False  # the base station is back: so is every lamp, and the incident ends
        async with asyncio.timeout(60):
            await book.wait_resolved(20)
        ended = await controller.store.call(controller.repository.incident, incident.incident_id)
        assert (ended.status, ended.resolved_by, ended.peak) == ("resolved", "controller", 20)
