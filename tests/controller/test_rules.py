"""The fault rules, pure: a report against what the lamp should do."""

from __future__ import annotations

import pytest

from lighting.config import FaultsConfig
from lighting.controller.rules import JUDGED, LIGHT_RULES, Expectation, judge
from lighting.model import FaultKind, StateReport

RULES = FaultsConfig(power_tolerance=0.25, power_slack_w=5.0)
K = FaultKind


def _report(
    level: int,
    power_w: float,
    voltage: float | None = 230.0,
    faults: frozenset[FaultKind] | set[FaultKind] = frozenset(),
) -> StateReport:
    return StateReport(
        lamp_id="L1",
        seq=7,
        level=level,
        power_w=power_w,
        energy_wh=1.0,
        burning_s=10,
        voltage_v=voltage,
        faults=frozenset(faults),
    )


def _settled(level: int, wattage: float = 100.0) -> Expectation:
    return Expectation(level=level, settled=True, wattage=wattage)


@pytest.mark.parametrize(
    ("level", "power", "expected", "found"),
    [
        (0, 0.0, 0, set()),  # day, dark: fine
        (0, 100.0, 0, {K.DAY_BURNER}),  # day, lit at full: a day-burner
        (0, 4.0, 0, set()),  # standby draw under the slack is not light
        (60, 60.0, 60, set()),  # night, at its level, at its power
        (60, 0.0, 60, {K.NIGHT_OUTAGE}),  # night, dark
        (40, 40.0, 60, {K.DIMMING_FAILURE}),  # lit, but not at the level sent
        (60, 90.0, 60, {K.POWER_HIGH}),  # 60 W expected, 80 allowed (25 % + 5 W)
        (60, 79.0, 60, set()),
        (60, 30.0, 60, {K.POWER_LOW}),  # 40 allowed at the least
        (60, 41.0, 60, set()),
    ],
)
def test_light_against_the_level_sent(
    level: int, power: float, expected: int, found: set[FaultKind]
) -> None:
    verdict = judge(_report(level, power), _settled(expected), RULES)
    assert verdict.found == found
    assert verdict.judged == JUDGED


def test_a_lamp_that_says_why_it_is_dark_has_no_night_outage_on_top() -> None:
    report = _report(60, 0.0, faults={K.LAMP_FAILURE})
    assert judge(report, _settled(60), RULES).found == set()


def test_a_kind_the_lamp_reports_itself_is_neither_found_nor_judged_by_the_rules() -> None:
    report = _report(60, 95.0, voltage=260.0, faults={K.POWER_HIGH, K.VOLTAGE_HIGH})
    verdict = judge(report, _settled(60), RULES)
    assert verdict.found == set()
    assert K.POWER_HIGH not in verdict.judged
    assert K.VOLTAGE_HIGH not in verdict.judged


def test_light_is_not_judged_until_the_change_has_settled() -> None:
    unsettled = Expectation(level=0, settled=False, wattage=100.0)
    verdict = judge(_report(100, 100.0), unsettled, RULES)
    assert verdict.found == set()
    assert not verdict.judged & LIGHT_RULES
    # ... nor before the controller ever told the lamp anything.
    assert judge(_report(100, 100.0), None, RULES).found == set()


@pytest.mark.parametrize(
    ("voltage", "found"),
    [(230.0, set()), (200.0, {K.VOLTAGE_LOW}), (260.0, {K.VOLTAGE_HIGH}), (None, set())],
)
def test_the_supply_voltage_is_judged_in_every_report(
    voltage: float | None, found: set[FaultKind]
) -> None:
    verdict = judge(_report(0, 0.0, voltage=voltage), None, RULES)
    assert verdict.found == found
    assert (K.VOLTAGE_LOW in verdict.judged) == (voltage is not None)


def test_a_lamp_without_a_rated_power_is_not_judged_on_power() -> None:
    assert judge(_report(60, 500.0), _settled(60, wattage=0.0), RULES).found == set()
