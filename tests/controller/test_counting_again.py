"""A lamp whose sequence numbers jump backwards, over real CoAP with a simulated lamp.

After a reboot a lamp counts its uplinks from the start again, and registers: the
registration starts a new boot, and its reports are told apart by (boot, seq). A lamp whose
registration was lost (or that reset its counter without rebooting) sends reports far
behind its newest one: the controller must not take them for late reports (which never
move a lamp's state), but start a new boot for the lamp itself, so that its reports count
again. A report a few numbers late (a retransmission) is still stored as history. (How a
copy of a stored report is told from a new start: tests/storage/test_repository.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from lighting.controller import Controller
from lighting.storage.reports import LATE_WINDOW
from simulator import LampNode, Simulator, build_fleet
from tests.conftest import make_settings

City = tuple[Controller, Simulator]


@pytest.fixture
async def city(db_url: str, coap_port: int, lamp_base: str) -> AsyncIterator[City]:
    settings = make_settings(db_url, coap_port)
    async with Controller(settings) as controller:
        specs = build_fleet(
            2, zones=["centre"], base_address=lamp_base, port=coap_port, report_period_s=3600
        )
        async with Simulator(specs, controller.address) as sim:
            async with asyncio.timeout(30):
                await sim.wait_registered()
            yield controller, sim


async def _level(controller: Controller, lamp_id: str) -> int | None:
    """The lamp's level, as its newest report stored it."""
    lamp = await controller.store.call(controller.repository.lamp, lamp_id)
    assert lamp is not None
    return lamp.level


async def test_a_lamp_counting_again_without_registering_starts_a_new_boot(
    city: City,
) -> None:
    controller, sim = city
    node: LampNode = next(iter(sim.nodes.values()))
    lamp_id = node.spec.lamp_id
    node.lamp.seq, node.lamp.level = 500, 60
    await node.send_report()  # seq 501
    assert await _level(controller, lamp_id) == 60
    again = controller.counters["lamps.re-registered"]

    # A report a little late (held up by retransmissions) is history: the state stays.
    node.lamp.seq, node.lamp.level = 501 - LATE_WINDOW, 70
    await node.send_report()
    assert await _level(controller, lamp_id) == 60
    assert controller.counters["reports.late"] == 1
    assert controller.counters["ingest.counting-again"] == 0

    # The lamp loses its counter but not its registration: a new boot, and it counts.
    node.lamp.seq, node.lamp.level = 0, 30
    await node.send_report()  # seq 1, far behind 501
    assert controller.counters["ingest.counting-again"] == 1
    assert await _level(controller, lamp_id) == 30
    node.lamp.level = 40
    await node.send_report()  # seq 2
    assert await _level(controller, lamp_id) == 40
    assert controller.counters["lamps.re-registered"] == again  # nobody had to register
    reports = await controller.store.call(controller.repository.reports, lamp_id, limit=100)
    newest_boot = max(r.boot for r in reports)
    assert sorted(r.seq for r in reports if r.boot == newest_boot) == [1, 2]
    assert {r.seq for r in reports if r.boot < newest_boot} >= {501, 502 - LATE_WINDOW}
