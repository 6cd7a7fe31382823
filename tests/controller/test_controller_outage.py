"""The controller down for a night: the lamps light by their own program, and when the
controller comes back it learns what they did and hands them the plan again.

Issue 9, "Faults survived". Real parts: the controller (its CoAP endpoint, its delivery,
its SQLite record), a city built from a simulator profile whose lamps are real CoAP
endpoints on loopback, each with the profile's fallback program (``[fallback]``:
part-night, 100 % from sunset, 50 % from 23:00, 100 % from 05:00, taken up after 900 s
without a word from the controller).

What is compressed: the hours of the night while the controller is down, nothing else.
The lamps and the controller read one clock: real time from 19:00 in Weifang on 24
November 2026, plus the hours the test skips (the lamps' ``clock``, the controller's
injected ``clock``). A skip is what a lamp sees when nothing happens between two instants:
the pure lamp (``simulator/lamp.py``) carries out its program over the gap change by
change and integrates its energy across it. The fallback waits the profile's full 900 s of
silence; the network, the lamps' retransmissions and the controller's delivery run in real
time. The hours are skipped only while the controller is stopped: no exchange with it spans
a skip (a lamp's report on its way to nobody gives up, as it would anyway).

The evening here (a city powering up as the plan is put in force) also covers a bug these
tests found: lamps that registered while a change was being recorded got no level until
the next change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lighting.config import Settings
from lighting.controller import Controller
from simulator import LampNode, Simulator, build_city
from simulator.profile import parse_profile
from tests.conftest import free_udp_port, make_settings

WAIT_S = 20.0
SHANGHAI = ZoneInfo("Asia/Shanghai")
EVENING = datetime(2026, 11, 24, 19, 0, tzinfo=SHANGHAI)
"""The controller runs, and the city is lit by the plan (sunset was at about 16:55)."""
MORNING = datetime(2026, 11, 25, 6, 0, tzinfo=SHANGHAI)
"""The controller is back, before sunrise (about 06:50)."""
ZONES = ("centre", "north", "harbour")
LAMPS_PER_ZONE = 20
WATTS = 60.0
PLANNED = {
    # lighting/example.toml: main-road (centre by its calendar, harbour) and residential.
    EVENING: {"centre": 100, "north": 80, "harbour": 100},
    MORNING: {"centre": 30, "north": 40, "harbour": 30},
}
NIGHT_WH = {
    # What a lamp burns from 19:00 to 06:00: its plan's level until its own program takes
    # over at 19:15, then 100 % to 23:00, 50 % to 05:00, 100 % to 06:00.
    zone: WATTS * (0.25 * level / 100 + 3.75 + 6 * 0.5 + 1)
    for zone, level in PLANNED[EVENING].items()
}


class NightClock:
    """Real time from ``start``, plus the time skipped: the lamps read it in seconds
    (``monotonic``), the controller as an aware instant (``now``)."""

    def __init__(self, start: datetime) -> None:
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()
        self.start = start
        self.skipped = 0.0

    def monotonic(self) -> float:
        return self._loop.time() + self.skipped

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.monotonic() - self._origin)

    def skip_to(self, instant: datetime) -> None:
        """The hours up to ``instant`` pass at once."""
        self.skipped += max((instant - self.now()).total_seconds(), 0.0)

    def set_on(self, nodes: Iterable[LampNode]) -> None:
        """Give the lamps this clock (before they power up), their wall clock at ``start``."""
        epoch = self.start.timestamp() - self._origin
        for node in nodes:
            node.clock = self.monotonic
            node.lamp.epoch = epoch


def _profile(base: str, port: int) -> dict[str, Any]:
    quiet = {"latency_s": 0.0, "loss": 0.0}
    return {
        "city": {
            "name": "weifang",
            "timezone": "Asia/Shanghai",
            "base_address": base,
            "port": port,
            "report_period_s": 1,
        },
        "fallback": {
            "after_s": 900,
            "program": "part-night",
            "level": 100,
            "dims": [["23:00", 50], ["05:00", 100]],
        },
        "network": {
            "lamps_per_cell": 20,
            "coverage": {"normal": {**quiet, "share": 1.0}, "extended": quiet, "extreme": quiet},
        },
        "models": [{"name": "led-60", "wattage": WATTS, "noise": 0, "tolerance": 0}],
        "zones": [
            {"name": zone, "bbox": [36.69, 119.14, 36.73, 119.18], "lamps": {"led-60": 20}}
            for zone in ZONES
        ],
    }


@pytest.fixture
def settings(db_url: str, coap_port: int) -> Settings:
    return make_settings(
        db_url,
        coap_port,
        delivery={"jitter_s": 0.05, "backoff_s": 0.2, "backoff_max_s": 1.0},
        contact={"missed_reports": 100, "check_interval_s": 5},
    )


def _now(sim: Simulator, clock: NightClock) -> dict[str, set[tuple[int, bool]]]:
    """Per zone, the lamps' levels now and whether each runs its own program."""
    seen: dict[str, set[tuple[int, bool]]] = {zone: set() for zone in ZONES}
    for node in sim.nodes.values():
        node.lamp.advance(clock.monotonic())
        seen[node.spec.zone].add((node.lamp.level, node.lamp.autonomous))
    return seen


def _held(levels: dict[str, int]) -> dict[str, set[tuple[int, bool]]]:
    """Every lamp of each zone at the level the controller gave it."""
    return {zone: {(level, False)} for zone, level in levels.items()}


def _own(level: int) -> dict[str, set[tuple[int, bool]]]:
    """Every lamp at ``level`` by its own program."""
    return {zone: {(level, True)} for zone in ZONES}


async def _at_plan(sim: Simulator, levels: dict[str, int]) -> None:
    async with asyncio.timeout(WAIT_S):
        await asyncio.gather(
            *(node.wait_level(levels[node.spec.zone]) for node in sim.nodes.values())
        )


async def _reported(sim: Simulator) -> None:
    """Wait until the controller has stored a report of every lamp from now on."""
    for node in sim.nodes.values():
        node.reported.clear()
    async with asyncio.timeout(WAIT_S):
        await asyncio.gather(*(node.reported.wait() for node in sim.nodes.values()))


async def test_lamps_light_the_night_by_themselves_and_the_controller_catches_up(
    settings: Settings, lamp_base: str
) -> None:
    city = build_city(parse_profile(_profile(lamp_base, free_udp_port()), "night"))
    clock = NightClock(EVENING)
    sim = Simulator.for_city(city, (settings.coap.host, settings.coap.port), uplink_timeout_s=2.0)
    clock.set_on(sim.nodes.values())
    evening = AsyncExitStack()
    controller = await evening.enter_async_context(Controller(settings, clock=clock.now))
    try:
        async with sim:
            # 19:00: the city powers up as the controller puts the plan in force (as
            # ``serve`` does when the daemon starts).
            await controller.apply_plan(clock.now())
            async with asyncio.timeout(WAIT_S):
                await sim.wait_registered()
            await _at_plan(sim, PLANNED[EVENING])
            await _reported(sim)
            before = await controller.store.call(controller.repository.lamps)
            await evening.aclose()  # the controller stops

            # A lamp holds the plan's level for 15 minutes of silence, then lights the
            # night by its own program.
            clock.skip_to(EVENING + timedelta(minutes=14))
            assert _now(sim, clock) == _held(PLANNED[EVENING])
            clock.skip_to(EVENING + timedelta(minutes=16))
            assert _now(sim, clock) == _own(100)
            clock.skip_to(datetime(2026, 11, 24, 23, 30, tzinfo=SHANGHAI))
            assert _now(sim, clock) == _own(50)
            clock.skip_to(datetime(2026, 11, 25, 5, 30, tzinfo=SHANGHAI))
            assert _now(sim, clock) == _own(100)
            clock.skip_to(MORNING)

            # 06:00: the controller is back. It learns from the lamps' reports what they
            # did (their level now, the energy of the night), then gives them the plan.
            async with Controller(settings, clock=clock.now) as controller:
                await _reported(sim)
                back = await controller.store.call(controller.repository.lamps)
                assert {lamp.level for lamp in back} == {100}
                assert {controller.registry.get(lamp.lamp_id).level for lamp in back} == {100}
                evening_wh = {lamp.lamp_id: lamp.energy_wh or 0.0 for lamp in before}
                for lamp in back:
                    night_wh = (lamp.energy_wh or 0.0) - evening_wh[lamp.lamp_id]
                    assert night_wh == pytest.approx(NIGHT_WH[lamp.zone], rel=0.01)

                changes = await controller.apply_plan(clock.now())
                assert all(c.acknowledged == c.total > 0 for c in changes)
                await _at_plan(sim, PLANNED[MORNING])
                await _reported(sim)
                assert _now(sim, clock) == _held(PLANNED[MORNING])
                lamps = await controller.store.call(controller.repository.lamps)
                faults = await controller.store.call(controller.repository.faults)
    finally:
        await evening.aclose()
    assert {(lamp.zone, lamp.level, lamp.desired_level, lamp.delivered) for lamp in lamps} == {
        (zone, level, level, True) for zone, level in PLANNED[MORNING].items()
    }
    assert faults == []  # a night on the lamps' own program is no fault of theirs
