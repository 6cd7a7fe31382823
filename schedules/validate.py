"""Validation: a calendar planned for every night of a year, and what is wrong with it.

``validate(calendar, site, first, nights=365)`` plans each night (without overrides) and
reports, each with the dates it concerns:

========  ================  ==========================================================
severity  code              finding
========  ================  ==========================================================
error     lit-all-day       the lamps are still lit at noon, while the sun is up
error     never-on-polar    the lamps never light in polar night (sun steps skipped)
error     hidden-rule       a rule never applies: earlier rules take all of its nights
warning   never-on          the lamps never light on a night the sun sets
warning   cannot-fire       a clock step falls after a sun step written after it (a
                            fixed 06:00 "on" after a summer sunrise): it cannot fire
warning   held              a clock step falls before a sun step written before it
warning   order             two steps run in the opposite order to the one written
warning   never-fires       a step changes nothing on any night its program runs
warning   outside           a step falls outside the night (noon to noon)
warning   ramp              a ramp is longer than the time to the next change
warning   anti-flap         the anti-flap guard removes changes
warning   lit-polar-day     the lamps are lit in polar day (clock steps still fire)
warning   skipped           a sun event falls just outside the noon-to-noon night
info      polar-day         nights the sun does not set
info      polar-night       nights the sun does not rise
info      white-night       nights without civil dusk and dawn (their steps are skipped)
info      dark-program      a program with no lit step (the lamps stay off)
info      shadowed-rule     a rule gives way to earlier rules on some of its nights
info      unmatched-rule    a rule matches no night of the period
========  ================  ==========================================================

Errors mean the plan would light an empty day or leave a dark street, or that the calendar
contradicts itself; the daemon refuses a calendar with errors and logs the warnings.
"""

from __future__ import annotations

import datetime
import enum
import functools
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from schedules.calendar import Calendar, as_calendar
from schedules.const import MAX_DATE_RUNS, YEAR_NIGHTS
from schedules.errors import InvalidInstantError, ScheduleError
from schedules.plan import NightPlan, plan_night
from schedules.program import (
    Program,
    SolarEvent,
    SolarTime,
    Step,
    format_duration,
    is_bounding,
)
from schedules.resolve import Fate, StepOutcome
from schedules.site import Site
from schedules.sun import SunCase
from schedules.wallclock import utc

__all__ = ["Problem", "Report", "Severity", "describe_dates", "validate"]

_Dates = list[datetime.date]
_StepKey = tuple[str, int]  # (program name, step index)


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding, with the nights it concerns (the dates of their evenings)."""

    severity: Severity
    code: str
    message: str
    dates: tuple[datetime.date, ...] = ()
    program: str | None = None
    rule: str | None = None
    step: Step | None = None

    def __str__(self) -> str:
        where = f" on {describe_dates(self.dates)}" if self.dates else ""
        return f"{self.severity.value} [{self.code}]: {self.message}{where}"


@dataclass(frozen=True, slots=True)
class Report:
    """The findings of ``validate`` for ``calendar`` at ``site``, errors first."""

    calendar: Calendar
    site: Site
    first: datetime.date
    nights: int
    problems: tuple[Problem, ...] = field(default=())

    @property
    def last(self) -> datetime.date:
        return self.first + datetime.timedelta(days=self.nights - 1)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return self._of(Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return self._of(Severity.WARNING)

    @property
    def infos(self) -> tuple[Problem, ...]:
        return self._of(Severity.INFO)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings and infos allowed)."""
        return not self.errors

    def _of(self, severity: Severity) -> tuple[Problem, ...]:
        return tuple(problem for problem in self.problems if problem.severity is severity)


def validate(
    calendar: Calendar | Program,
    site: Site,
    first: datetime.date,
    nights: int = YEAR_NIGHTS,
) -> Report:
    """Plan ``nights`` nights from ``first`` with ``calendar`` at ``site`` and report.

    Pure and deterministic, so results are cached: the daemon and the CLI may ask again.
    """
    if isinstance(first, datetime.datetime):
        raise InvalidInstantError("pass the date of the first night, not a datetime", value=first)
    if nights < 1:
        raise ScheduleError(f"validate needs at least one night, not {nights}")
    return _validate(as_calendar(calendar), site, first, nights)


@functools.lru_cache(maxsize=32)
def _validate(calendar: Calendar, site: Site, first: datetime.date, nights: int) -> Report:
    sweep = _Sweep(calendar)
    for offset in range(nights):
        date = first + datetime.timedelta(days=offset)
        sweep.night(plan_night(site, calendar, (), date))
    problems = [*sweep.rule_problems(first, nights), *sweep.night_problems()]
    problems.sort(key=lambda problem: _RANK[problem.severity])
    return Report(calendar, site, first, nights, tuple(problems))


def describe_dates(dates: tuple[datetime.date, ...] | list[datetime.date]) -> str:
    """``2026-05-10 to 2026-08-03, 2026-12-24 (87 nights)``: runs of consecutive nights."""
    ordered = sorted(set(dates))
    runs: list[list[datetime.date]] = []
    for date in ordered:
        if runs and date - runs[-1][-1] == datetime.timedelta(days=1):
            runs[-1].append(date)
        else:
            runs.append([date])
    shown = [str(run[0]) if len(run) == 1 else f"{run[0]} to {run[-1]}" for run in runs]
    if len(shown) > MAX_DATE_RUNS:
        shown = [*shown[:MAX_DATE_RUNS], f"{len(shown) - MAX_DATE_RUNS} more"]
    count = len(ordered)
    return f"{', '.join(shown)} ({count} night{'s' * (count != 1)})"


class _Sweep:
    """What the nights of the period showed, gathered one plan at a time."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self.matched: dict[str, _Dates] = defaultdict(list)
        self.won: dict[str, _Dates] = defaultdict(list)
        self.taken_by: dict[str, Counter[str]] = defaultdict(Counter)
        self.used: dict[str, _Dates] = defaultdict(list)
        self.programs: dict[str, Program] = {}
        self.polar: dict[SunCase, _Dates] = defaultdict(list)
        self.found: dict[tuple[str, str], _Dates] = defaultdict(list)  # (code, program)
        self.fates: dict[_StepKey, dict[Fate, _Dates]] = defaultdict(lambda: defaultdict(list))
        self.bounds: dict[_StepKey, Step] = {}
        self.inverted: dict[tuple[str, int, int], _Dates] = defaultdict(list)
        self.ramps: dict[_StepKey, _Dates] = defaultdict(list)
        self.cannot_fire: dict[_StepKey, _Dates] = defaultdict(list)
        self.edge_skipped: dict[_StepKey, _Dates] = defaultdict(list)
        self.white_nights: dict[str, set[datetime.date]] = defaultdict(set)
        self.lit_levels: dict[str, int] = {}

    def night(self, plan: NightPlan) -> None:
        date, program = plan.date, plan.program
        self._rules(date, plan)
        self.used[program.name].append(date)
        self.programs[program.name] = program
        case = plan.sun.case
        if case is not SunCase.NORMAL:
            self.polar[case].append(date)
        levels = [change.level for change in plan.changes]
        final = levels[-1] if levels else 0
        # Lit at noon with the sun risen: lit through the morning (the next night's plan
        # starts dark at noon). Without a sunrise before noon there is nothing to waste.
        sun_up_at_end = plan.sun.sunrise is not None or case is SunCase.POLAR_DAY
        if final > 0 and sun_up_at_end:
            self.found["lit-all-day", program.name].append(date)
            self.lit_levels[program.name] = final
        elif case is SunCase.POLAR_DAY and any(levels):
            self.found["lit-polar-day", program.name].append(date)
        if not any(levels) and any(step.level for step in program.steps):
            code = {SunCase.POLAR_NIGHT: "never-on-polar", SunCase.NORMAL: "never-on"}.get(case)
            if code is not None:
                self.found[code, program.name].append(date)
        if any("anti-flap" in note for note in plan.notes):
            self.found["anti-flap", program.name].append(date)
        self._steps(plan)

    def _rules(self, date: datetime.date, plan: NightPlan) -> None:
        matching = [rule.name for rule in self.calendar.rules if rule.matches(date)]
        for position, name in enumerate(matching):
            self.matched[name].append(date)
            if position == 0:
                self.won[name].append(date)
            else:
                self.taken_by[name][matching[0]] += 1

    def _steps(self, plan: NightPlan) -> None:
        name = plan.program.name
        outcomes = plan.outcomes
        for outcome in outcomes:
            key = (name, outcome.index)
            self.fates[key][outcome.fate].append(plan.date)
            held = (
                outcome.at is not None
                and outcome.written_at is not None
                and utc(outcome.at) != utc(outcome.written_at)
            )
            if held and outcome.fate is Fate.OVERRULED:
                self.cannot_fire[key].append(plan.date)
            if held and key not in self.bounds:
                bound = _bound_of(outcome, outcomes)
                if bound is not None:
                    self.bounds[key] = bound
            if outcome.fate is Fate.SKIPPED:
                case = _sun_case(plan, outcome.step)
                if case is SunCase.NORMAL:
                    self.edge_skipped[key].append(plan.date)
                elif case is SunCase.POLAR_DAY and plan.sun.case is SunCase.NORMAL:
                    self.white_nights[name].add(plan.date)
        fired = [o for o in outcomes if o.fate is Fate.FIRED and o.at is not None]
        for earlier, later in itertools.pairwise(fired):
            if earlier.at is not None and later.at is not None and utc(later.at) < utc(earlier.at):
                self.inverted[name, earlier.index, later.index].append(plan.date)
        own = [change for change in plan.changes if change.step is not None]
        for change, following in itertools.pairwise(own):
            if change.ramp and utc(following.at) < utc(change.settled_at):
                index = plan.program.steps.index(change.step) if change.step else -1
                self.ramps[name, index].append(plan.date)

    def rule_problems(self, first: datetime.date, nights: int) -> list[Problem]:
        last = first + datetime.timedelta(days=nights - 1)
        problems = []
        for rule in self.calendar.rules:
            matched, won = self.matched.get(rule.name, []), self.won.get(rule.name, [])
            takers = ", ".join(repr(taker) for taker in self.taken_by[rule.name])
            if not matched:
                problems.append(
                    Problem(
                        Severity.INFO,
                        "unmatched-rule",
                        f"{rule} matches no night from {first} to {last}",
                        rule=rule.name,
                    )
                )
            elif not won:
                problems.append(
                    Problem(
                        Severity.ERROR,
                        "hidden-rule",
                        f"{rule} never applies: every night it matches is taken by the earlier "
                        f"rule(s) {takers}; move it before them or narrow them",
                        tuple(matched),
                        rule=rule.name,
                    )
                )
            elif len(won) < len(matched):
                shadowed = sorted(set(matched) - set(won))
                problems.append(
                    Problem(
                        Severity.INFO,
                        "shadowed-rule",
                        f"{rule} gives way to the earlier rule(s) {takers} on "
                        f"{len(shadowed)} of the {len(matched)} nights it matches",
                        tuple(shadowed),
                        rule=rule.name,
                    )
                )
        return problems

    def night_problems(self) -> list[Problem]:
        problems = [*self._night_findings(), *self._step_findings()]
        for case, code, text in (
            (SunCase.POLAR_DAY, "polar-day", "polar day: the sun does not set"),
            (SunCase.POLAR_NIGHT, "polar-night", "polar night: the sun does not rise"),
        ):
            if self.polar.get(case):
                problems.append(Problem(Severity.INFO, code, text, tuple(self.polar[case])))
        for name, dates in self.white_nights.items():
            problems.append(
                Problem(
                    Severity.INFO,
                    "white-night",
                    f"program {name!r}: white nights (the sun does not get 6 degrees below the "
                    "horizon), so its dusk and dawn steps are skipped",
                    tuple(sorted(dates)),
                    program=name,
                )
            )
        for name, program in self.programs.items():
            if not any(step.level for step in program.steps):
                problems.append(
                    Problem(
                        Severity.INFO,
                        "dark-program",
                        f"program {name!r} has no lit step: the lamps stay off when it runs",
                        tuple(self.used[name]),
                        program=name,
                    )
                )
        return problems

    def _night_findings(self) -> list[Problem]:
        texts = {
            "lit-all-day": (
                Severity.ERROR,
                "program {p!r} leaves the lamps lit ({level}%) at noon, when the sun is up: "
                "add a step that switches them off (e.g. sunrise at 0)",
            ),
            "never-on-polar": (
                Severity.ERROR,
                "program {p!r} never lights the lamps in polar night: its sun steps are "
                "skipped when the sun does not rise; add clock steps or a rule for these nights",
            ),
            "never-on": (
                Severity.WARNING,
                "program {p!r} never lights the lamps although the sun sets",
            ),
            "lit-polar-day": (
                Severity.WARNING,
                "program {p!r} lights the lamps in polar day (its clock steps still fire)",
            ),
            "anti-flap": (
                Severity.WARNING,
                "program {p!r}: the anti-flap guard ({guard}) removes changes that would "
                "light the lamps, or darken them, for too short a time",
            ),
        }
        problems = []
        for (code, name), dates in self.found.items():
            severity, text = texts[code]
            message = text.format(
                p=name, level=self.lit_levels.get(name, 0), guard=self.calendar.anti_flap
            )
            problems.append(Problem(severity, code, message, tuple(dates), program=name))
        return problems

    def _step_findings(self) -> list[Problem]:
        problems = []
        for (name, index), fates in self.fates.items():
            step = self.programs[name].steps[index]
            used = len(self.used[name])
            problems.extend(self._fate_findings(name, step, (name, index), fates, used))
        for (name, earlier, later), dates in self.inverted.items():
            steps = self.programs[name].steps
            problems.append(
                Problem(
                    Severity.WARNING,
                    "order",
                    f"program {name!r}: {steps[later].anchor} runs before {steps[earlier].anchor}"
                    ", the opposite of the order written",
                    tuple(dates),
                    program=name,
                    step=steps[later],
                )
            )
        for (name, index), dates in self.ramps.items():
            step = self.programs[name].steps[index]
            problems.append(
                Problem(
                    Severity.WARNING,
                    "ramp",
                    f"program {name!r}: the ramp of {step} ({format_duration(step.ramp)}) is "
                    "longer than the time to the next change; it is cut short",
                    tuple(dates),
                    program=name,
                    step=step,
                )
            )
        return problems

    def _fate_findings(
        self, name: str, step: Step, key: _StepKey, fates: dict[Fate, _Dates], used: int
    ) -> list[Problem]:
        problems = []
        bound = self.bounds.get(key)
        bound_text = str(bound.anchor) if bound is not None else "a sun step"
        prefix = f"program {name!r}: the step at {step.anchor} ({step.level}%)"
        if not any(fate.fired for fate in fates):
            reasons = ", ".join(
                f"{fate.value} on {len(dates)}"
                for fate, dates in sorted(fates.items(), key=lambda item: -len(item[1]))
            )
            problems.append(
                Problem(
                    Severity.WARNING,
                    "never-fires",
                    f"{prefix} never changes the level on the {used} nights the program "
                    f"runs ({reasons})",
                    program=name,
                    step=step,
                )
            )
        if fates.get(Fate.HELD):
            problems.append(
                Problem(
                    Severity.WARNING,
                    "held",
                    f"{prefix} falls before {bound_text}, which is written before it; it runs "
                    f"with {bound_text}",
                    tuple(fates[Fate.HELD]),
                    program=name,
                    step=step,
                )
            )
        overruled = self.cannot_fire.get(key)
        if overruled:
            problems.append(
                Problem(
                    Severity.WARNING,
                    "cannot-fire",
                    f"{prefix} falls after {bound_text}, which is written after it; it cannot "
                    "fire (the plan keeps the written order instead of lighting the day)",
                    tuple(overruled),
                    program=name,
                    step=step,
                )
            )
        if fates.get(Fate.OUTSIDE):
            problems.append(
                Problem(
                    Severity.WARNING,
                    "outside",
                    f"{prefix} falls outside the night (noon to noon) and is dropped",
                    tuple(fates[Fate.OUTSIDE]),
                    program=name,
                    step=step,
                )
            )
        skipped = self.edge_skipped.get(key)
        if skipped:
            problems.append(
                Problem(
                    Severity.WARNING,
                    "skipped",
                    f"{prefix} is skipped: its sun event falls outside the noon-to-noon night",
                    tuple(skipped),
                    program=name,
                    step=step,
                )
            )
        return problems


def _sun_case(plan: NightPlan, step: Step) -> SunCase:
    """How the sun behaves for the event ``step`` is anchored to: the horizon for sunset and
    sunrise, civil twilight for dusk and dawn."""
    anchor = step.anchor
    if isinstance(anchor, SolarTime) and anchor.event in (SolarEvent.DUSK, SolarEvent.DAWN):
        return plan.sun.twilight
    return plan.sun.case


def _bound_of(outcome: StepOutcome, outcomes: tuple[StepOutcome, ...]) -> Step | None:
    """The bounding step a held step was moved to (the one on its new instant)."""
    if outcome.at is None:
        return None
    for other in outcomes:
        if (
            other.index != outcome.index
            and is_bounding(other.step.anchor)
            and other.at is not None
            and utc(other.at) == utc(outcome.at)
        ):
            return other.step
    return None
