"""The controller's fault rules: what a lamp's report shows against what the lamp should do.

Pure: a report and an expectation in, the symptoms out; no clock, no I/O. The fault book
turns symptoms into faults only after ``confirm_reports`` reports in a row, so that one odd
reading (a report taken in the middle of a fade) opens nothing.

The expectation is the level the controller wants the lamp at now: the plan's level in
force, or an operator's order, as last sent to the lamp. Rules that compare light with that
level (day-burner, night outage, dimming failure, power) judge a lamp only once the change
has settled: nothing is on its way to the lamp and ``settle_s`` has passed since the level
changed. The supply voltage is judged in every report.
"""

from __future__ import annotations

from dataclasses import dataclass

from lighting.config import FaultsConfig
from lighting.model import FaultKind, StateReport

DAY_BURNER = FaultKind.DAY_BURNER
NIGHT_OUTAGE = FaultKind.NIGHT_OUTAGE

LIGHT_RULES = frozenset(
    {
        FaultKind.DAY_BURNER,
        FaultKind.NIGHT_OUTAGE,
        FaultKind.DIMMING_FAILURE,
        FaultKind.POWER_HIGH,
        FaultKind.POWER_LOW,
    }
)
"""Judged only when the lamp's level has settled."""
SUPPLY_RULES = frozenset({FaultKind.VOLTAGE_HIGH, FaultKind.VOLTAGE_LOW})
"""Judged in every report that carries a voltage."""
JUDGED = LIGHT_RULES | SUPPLY_RULES
"""Every kind the rules may find."""

DARK_FOR_A_KNOWN_CAUSE = frozenset(
    {
        FaultKind.LAMP_FAILURE,
        FaultKind.SUPPLY_LOSS,
        FaultKind.DRIVER_FAILURE,
        FaultKind.THERMAL_SHUTDOWN,
        FaultKind.RELAY_FAILURE,
    }
)
"""A lamp saying one of these is dark for a reason it gave: no night outage on top."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the lamp should do now."""

    level: int
    """The level the controller last sent it (plan or operator)."""
    settled: bool
    """Nothing is on its way to the lamp and the change is older than ``settle_s``."""
    wattage: float
    """The lamp's rated power at 100 %."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one report showed: the symptoms found, among the kinds that could be judged."""

    found: frozenset[FaultKind]
    judged: frozenset[FaultKind]


def expected_power(wattage: float, level: int) -> float:
    """The power a lamp of ``wattage`` should draw at ``level`` (linear, as LED drivers)."""
    return wattage * level / 100


def judge(report: StateReport, expected: Expectation | None, rules: FaultsConfig) -> Verdict:
    """The symptoms ``report`` shows against ``expected`` (None: nothing was ever sent)."""
    found: set[FaultKind] = set()
    judged: set[FaultKind] = set()
    said = report.faults
    if report.voltage_v is not None:
        judged |= SUPPLY_RULES - said
        if report.voltage_v < rules.voltage_min_v and FaultKind.VOLTAGE_LOW not in said:
            found.add(FaultKind.VOLTAGE_LOW)
        if report.voltage_v > rules.voltage_max_v and FaultKind.VOLTAGE_HIGH not in said:
            found.add(FaultKind.VOLTAGE_HIGH)
    if expected is None or not expected.settled:
        return Verdict(frozenset(found), frozenset(judged))
    judged |= LIGHT_RULES - said
    burning = report.power_w > rules.power_slack_w
    if expected.level == 0:
        if burning:
            found.add(DAY_BURNER)
    elif not burning:
        if not said & DARK_FOR_A_KNOWN_CAUSE:
            found.add(NIGHT_OUTAGE)
    elif report.level != expected.level:
        found.add(FaultKind.DIMMING_FAILURE)
    elif expected.wattage > 0:
        watts = expected_power(expected.wattage, expected.level)
        if report.power_w > watts * (1 + rules.power_tolerance) + rules.power_slack_w:
            found.add(FaultKind.POWER_HIGH)
        elif report.power_w < watts * (1 - rules.power_tolerance) - rules.power_slack_w:
            found.add(FaultKind.POWER_LOW)
    return Verdict(frozenset(found - said), frozenset(judged))
