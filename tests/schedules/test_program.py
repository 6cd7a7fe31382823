"""Anchors, steps and programs: the forms operators write, and the ones we refuse."""

from __future__ import annotations

import datetime

import pytest

from schedules import (
    Anchor,
    ClockTime,
    InvalidProgramError,
    InvalidStepError,
    Program,
    SolarEvent,
    SolarTime,
    Step,
    parse_anchor,
    parse_step,
)

MINUTE = datetime.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sunset", SolarTime(SolarEvent.SUNSET)),
        ("sunset-10min", SolarTime(SolarEvent.SUNSET, -10 * MINUTE)),
        ("sunrise+10min", SolarTime(SolarEvent.SUNRISE, 10 * MINUTE)),
        ("dusk+1h30m", SolarTime(SolarEvent.DUSK, 90 * MINUTE)),
        ("dawn-45s", SolarTime(SolarEvent.DAWN, -datetime.timedelta(seconds=45))),
        ("  Sunset - 2h ", SolarTime(SolarEvent.SUNSET, -120 * MINUTE)),
        ("23:00", ClockTime(datetime.time(23, 0))),
        ("01:30", ClockTime(datetime.time(1, 30))),
        ("7:05:09", ClockTime(datetime.time(7, 5, 9))),
        ("S+30", SolarTime(SolarEvent.SUNSET, 30 * MINUTE)),
        ("R-20", SolarTime(SolarEvent.SUNRISE, -20 * MINUTE)),
        ("S", SolarTime(SolarEvent.SUNSET)),
    ],
)
def test_accepted_forms(text: str, expected: Anchor) -> None:
    anchor = parse_anchor(text)

    assert anchor == expected
    assert parse_anchor(str(anchor)) == anchor  # str() is canonical and reads back


@pytest.mark.parametrize(
    "text",
    [
        "",
        "noon",
        "sunset+",
        "sunset+10",  # no unit
        "sunset 10min",  # no sign
        "sunset--10min",
        "sunset+12h",  # offsets must stay under 12 hours
        "R-720",
        "S+30min",  # the uCIFI form counts minutes, without a unit
        "S+3.5",
        "24:00",
        "12:60",
        "23h00",
        "dusk+1d",
    ],
)
def test_refused_forms_name_the_text(text: str) -> None:
    with pytest.raises(InvalidStepError) as caught:
        parse_anchor(text)

    assert repr(text) in str(caught.value)
    assert caught.value.text == text


def test_canonical_text() -> None:
    assert str(parse_anchor("dusk+1h30m")) == "dusk+1h30min"
    assert str(parse_anchor("R-20")) == "sunrise-20min"
    assert str(parse_anchor("7:05")) == "07:05"


def test_clock_times_from_noon_belong_to_the_evening() -> None:
    assert ClockTime(datetime.time(12, 0)).evening
    assert ClockTime(datetime.time(23, 59)).evening
    assert not ClockTime(datetime.time(11, 59, 59)).evening
    assert not ClockTime(datetime.time(0, 0)).evening


def test_clock_time_with_a_zone_is_refused() -> None:
    with pytest.raises(InvalidStepError, match="local wall-clock"):
        ClockTime(datetime.time(23, 0, tzinfo=datetime.UTC))


@pytest.mark.parametrize("level", [-1, 101, True, 50.0, "50"])
def test_levels_outside_0_to_100_or_not_integers_are_refused(level: object) -> None:
    with pytest.raises(InvalidStepError) as caught:
        parse_step("23:00", level)  # type: ignore[arg-type]

    assert caught.value.level == level


def test_steps_and_programs() -> None:
    step = parse_step("sunset-10min", 100)
    program = Program("p", [step])  # type: ignore[arg-type]

    assert step == Step(SolarTime(SolarEvent.SUNSET, -10 * MINUTE), 100)
    assert str(step) == "sunset-10min 100%"
    assert program.steps == (step,)
    assert hash(program) == hash(Program("p", (step,)))


def test_a_program_needs_steps() -> None:
    with pytest.raises(InvalidProgramError, match="at least one step"):
        Program("empty", ())
    with pytest.raises(InvalidProgramError, match="not a Step"):
        Program("bad", ("sunset",))  # type: ignore[arg-type]
