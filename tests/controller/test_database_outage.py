"""The database locked for a moment while lamps report: the reports wait in the bounded
buffer (SQLite's busy timeout holds the batch), are written when the lock goes, and each
lamp is answered once its report is stored; none is lost or stored twice. Past the buffer,
reports are refused with 5.03 and counted, and the lamps send them again."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import pytest

from lighting.config import Settings
from lighting.controller import Controller
from simulator import Simulator, build_fleet
from tests.conftest import make_settings

WAIT_S = 20.0
LAMPS = 20
LOCK_S = 1.0
"""How long another process holds the database's write lock: "a moment", well inside
SQLite's busy timeout (5 s) and a lamp's patience."""

City = tuple[Controller, Simulator]


async def _city(settings: Settings, lamp_base: str, *, settle: bool = True) -> AsyncIterator[City]:
    async with Controller(settings) as controller:
        specs = build_fleet(
            LAMPS, zones=["centre"], base_address=lamp_base, port=settings.coap.port
        )
        async with Simulator(specs, controller.address) as sim:
            async with asyncio.timeout(WAIT_S):
                await sim.wait_registered()
                if settle:  # each lamp's first report (after registering) is in
                    await asyncio.gather(*(node.reported.wait() for node in sim.nodes.values()))
            for node in sim.nodes.values():
                node.reported.clear()
            yield controller, sim


@pytest.fixture
async def city(db_url: str, coap_port: int, lamp_base: str) -> AsyncIterator[City]:
    async for pair in _city(make_settings(db_url, coap_port), lamp_base):
        yield pair


def _locked(
    path: str, held: asyncio.Event, release: asyncio.Event, loop: asyncio.AbstractEventLoop
) -> None:
    """Hold the write lock from another connection (as a backup or a hand-run UPDATE would)."""
    connection = sqlite3.connect(path, timeout=5)
    try:
        connection.execute("BEGIN IMMEDIATE")
        loop.call_soon_threadsafe(held.set)
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=WAIT_S)
        connection.rollback()
    finally:
        connection.close()


async def test_reports_wait_for_a_locked_database_and_none_is_lost(city: City, db_url: str) -> None:
    controller, sim = city
    before = controller.counters["reports.newest"]
    loop = asyncio.get_running_loop()
    held, release = asyncio.Event(), asyncio.Event()
    locker = asyncio.create_task(
        asyncio.to_thread(_locked, db_url.removeprefix("sqlite:///"), held, release, loop)
    )
    async with asyncio.timeout(WAIT_S):
        await held.wait()
    sending = asyncio.gather(*(node.send_report() for node in sim.nodes.values()))
    await asyncio.sleep(LOCK_S)  # the lock's duration is the scenario, not a wait for it
    assert controller.counters["reports.newest"] == before  # nothing stored while locked
    release.set()
    async with asyncio.timeout(WAIT_S):
        await locker
        await sending
    assert controller.counters["reports.newest"] == before + LAMPS
    assert controller.counters.total("coap.failed") == 0
    assert all(node.reported.is_set() for node in sim.nodes.values())


async def test_past_the_buffer_reports_are_refused_counted_and_sent_again(
    db_url: str, coap_port: int, lamp_base: str
) -> None:
    settings = make_settings(db_url, coap_port, ingest={"buffer": 5})
    async for controller, sim in _city(settings, lamp_base, settle=False):
        loop = asyncio.get_running_loop()
        held, release = asyncio.Event(), asyncio.Event()
        locker = asyncio.create_task(
            asyncio.to_thread(_locked, db_url.removeprefix("sqlite:///"), held, release, loop)
        )
        async with asyncio.timeout(WAIT_S):
            await held.wait()
        sending = asyncio.gather(*(node.send_report() for node in sim.nodes.values()))
        await asyncio.sleep(LOCK_S)
        release.set()
        async with asyncio.timeout(WAIT_S):
            await locker
            await sending
        assert controller.counters["coap.failed.report.storage"] > 0  # counted, 5.03
        assert controller.counters["ingest.refused.buffer-full"] > 0
        # A refused report is not acknowledged, so the lamp still holds its state and
        # says it again at its next uplink (here one lamp at a time, as their report
        # periods spread them): then every lamp's latest word is stored.
        async with asyncio.timeout(WAIT_S):
            for node in sim.nodes.values():
                await node.send_report()
            newest = {
                lamp_id: max(
                    r.seq
                    for r in await controller.store.call(controller.repository.reports, lamp_id)
                )
                for lamp_id in sim.nodes
            }
        assert newest == {lamp_id: node.lamp.seq for lamp_id, node in sim.nodes.items()}
