"""A lamp's behaviour, with time passed in: power by type and level, energy over a night,
warm-up and ramps, noisy readings, and the program it runs by itself when the controller
is gone."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lighting.model import Command
from schedules import NightPlan, Site, part_night, plan_night
from simulator import Fallback, Lamp, LampKind, LampSpec

WEIFANG = Site("Weifang", 36.71, 119.16, "Asia/Shanghai")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = date(2026, 11, 24)
PROGRAM = part_night("road", 100, [("23:00", 50), ("05:00", 100)])
LED = LampSpec(
    lamp_id="L1",
    zone="centre",
    latitude=36.71,
    longitude=119.16,
    wattage=100,
    address="127.9.0.1",
    port=5683,
)
SODIUM = dataclasses.replace(LED, kind=LampKind.SODIUM, wattage=150, min_level=50, warmup_s=240)
SODIUM_SHARE = {0: 0.0, 50: 0.6, 100: 1.0}
"""Rated power drawn by a sodium lamp at these levels (0.2 + 0.8 x level, documented)."""


def _expected_wh(plan: NightPlan, watts: float, share: dict[int, float]) -> float:
    """The plan's energy: each level held from its change to the next (or the plan's end)."""
    ends = [change.at for change in plan.changes[1:]] + [plan.end]
    return sum(
        watts * share[change.level] * (end - change.at).total_seconds() / 3600
        for change, end in zip(plan.changes, ends, strict=True)
    )


def _seconds(plan: NightPlan, instant: datetime) -> float:
    return (instant - plan.start).total_seconds()


def test_energy_over_a_night_of_commands_matches_the_plan_within_2_percent() -> None:
    plan = plan_night(WEIFANG, PROGRAM, (), NIGHT)
    assert [change.level for change in plan.changes] == [100, 50, 100, 0]
    lamp = Lamp(SODIUM, epoch=plan.start.timestamp())
    lamp.advance(0)
    for number, change in enumerate(plan.changes, start=1):
        lamp.apply(Command(number, change.level), _seconds(plan, change.at))
    lamp.advance(_seconds(plan, plan.end))
    expected = _expected_wh(plan, 150, SODIUM_SHARE)
    assert lamp.energy_wh == pytest.approx(expected, rel=0.02)
    assert lamp.energy_wh < expected  # the two strikes of the night warmed up at half power
    lit = _seconds(plan, plan.changes[-1].at) - _seconds(plan, plan.changes[0].at)
    assert lamp.burning_s == pytest.approx(lit, abs=1)


def test_energy_of_the_lamps_own_program_matches_the_plan_within_2_percent() -> None:
    plan = plan_night(WEIFANG, PROGRAM, (), NIGHT)
    spec = dataclasses.replace(SODIUM, fallback=Fallback(WEIFANG, PROGRAM, after_s=60))
    lamp = Lamp(spec, epoch=plan.start.timestamp())
    end = _seconds(plan, plan.end)
    levels = {}
    now = 0.0
    while now < end:  # reports at uneven times, as a lamp with jitter sends them
        lamp.report(now)
        levels[now] = lamp.level
        now = min(now + 97.3, end)
    lamp.advance(end)
    assert lamp.autonomous
    assert lamp.energy_wh == pytest.approx(_expected_wh(plan, 150, SODIUM_SHARE), rel=0.02)
    at_midnight = _seconds(plan, datetime(2026, 11, 25, 0, 0, tzinfo=SHANGHAI))
    assert levels[max(t for t in levels if t <= at_midnight)] == 50


def test_a_ramp_is_integrated_exactly_and_a_driver_dims_no_lower_than_it_can() -> None:
    lamp = Lamp(LED)
    lamp.advance(0)
    lamp.apply(Command(1, 100, ramp_s=3600), now=0)  # 0 to 100 % over an hour
    lamp.advance(7200)
    assert lamp.energy_wh == pytest.approx(150.0, rel=1e-6)  # half an hour's worth, then one
    floor = Lamp(dataclasses.replace(LED, min_level=20))
    floor.apply(Command(1, 5), now=0)
    assert (floor.report(0).level, floor.power_at(0)) == (5, 20.0)


def test_a_sodium_lamp_warms_up_and_draws_more_than_linear_when_dimmed() -> None:
    lamp = Lamp(SODIUM)
    lamp.apply(Command(1, 100), now=0)
    assert lamp.power_at(0) == pytest.approx(75.0)  # struck: half its power
    assert lamp.power_at(120) == pytest.approx(112.5)
    assert lamp.power_at(240) == pytest.approx(150.0)
    lamp.apply(Command(2, 50), now=600)
    assert lamp.power_at(600) == pytest.approx(90.0)  # 60 %, not 50 %


def test_power_readings_are_noisy_within_bounds_and_reproducible() -> None:
    spec = dataclasses.replace(LED, power_noise=0.02, noise_seed=42, efficiency=1.03)
    readings = []
    for _ in range(2):
        lamp = Lamp(spec)
        lamp.apply(Command(1, 80), now=0)
        readings.append([lamp.report(float(t)) for t in range(60, 6000, 60)])
    first, again = readings
    assert first == again  # same seed and sequence number, same reading
    watts = [report.power_w for report in first]
    assert all(80 * 1.03 * 0.98 - 0.01 <= w <= 80 * 1.03 * 1.02 + 0.01 for w in watts)
    assert len(set(watts)) > 50  # it does vary
    voltages = {report.voltage_v for report in first}
    assert len(voltages) > 1
    assert all(229 <= v <= 231 for v in voltages if v is not None)


def test_the_fallback_takes_over_when_the_controller_is_gone_and_hands_back() -> None:
    evening = datetime(2026, 11, 24, 20, 0, tzinfo=SHANGHAI)  # after sunset
    spec = dataclasses.replace(LED, fallback=Fallback(WEIFANG, PROGRAM, after_s=900))
    lamp = Lamp(spec, epoch=evening.timestamp())

    def at(hours: float) -> float:
        return hours * 3600

    lamp.advance(0)  # power-up: its own program until the controller speaks
    assert (lamp.autonomous, lamp.level) == (True, 100)
    lamp.apply(Command(1, 60), now=at(0.1))
    assert (lamp.autonomous, lamp.level) == (False, 60)
    for minute in range(7, 60, 1):  # the controller answers every report for an hour
        lamp.heard(at(0.1) + minute * 60)
        lamp.report(at(0.1) + minute * 60)
    assert (lamp.autonomous, lamp.level) == (False, 60)
    silent_from = at(0.1) + 59 * 60
    # The controller goes away: 15 minutes later the lamp lights by its own program ...
    lamp.advance(silent_from + 899)
    assert (lamp.autonomous, lamp.level) == (False, 60)
    lamp.advance(silent_from + 901)
    assert (lamp.autonomous, lamp.level) == (True, 100)
    # ... dims at 23:00 by itself ...
    lamp.advance(at(3) + 1)
    assert (lamp.autonomous, lamp.level) == (True, 50)
    # ... an answer to an uplink says the controller is back, but only a command takes over.
    lamp.heard(at(3.5))
    assert lamp.autonomous
    ack = lamp.apply(Command(2, 70), now=at(4))
    assert (ack.level, lamp.autonomous, lamp.level) == (70, False, 70)
    # At 05:00 the lamp's program would go to 100 %: the controller is in charge now.
    for minutes in range(10, 330, 10):
        lamp.heard(at(4) + minutes * 60)
    lamp.advance(at(9.5))
    assert (lamp.autonomous, lamp.level) == (False, 70)


def test_a_command_the_lamp_already_applied_still_hands_it_back() -> None:
    evening = datetime(2026, 11, 24, 23, 30, tzinfo=SHANGHAI)
    spec = dataclasses.replace(LED, fallback=Fallback(WEIFANG, PROGRAM, after_s=60))
    lamp = Lamp(spec, epoch=evening.timestamp())
    lamp.apply(Command(7, 80), now=0)
    lamp.advance(120)
    assert (lamp.autonomous, lamp.level) == (True, 50)
    lamp.apply(Command(7, 80), now=130)  # a retransmission of the same command
    assert (lamp.autonomous, lamp.level, lamp.commands_applied) == (False, 80, 1)


def test_a_power_cut_restarts_the_node() -> None:
    lamp = Lamp(LED)
    lamp.registration()
    lamp.apply(Command(3, 40), now=0)
    lamp.report(10)
    lamp.power_off(20)
    assert lamp.power_at(30) == 0
    energy = lamp.energy_wh
    lamp.power_on(3600)
    assert lamp.energy_wh == pytest.approx(energy)  # nothing drawn while off; counter kept
    assert (lamp.level, lamp.last_command_id, lamp.registration().seq) == (0, None, 1)
    assert timedelta(seconds=lamp.burning_s) == timedelta(seconds=20)
