"""`lighting plan` (explain, a year as CSV, JSON) and `lighting validate` (exit codes)."""

from __future__ import annotations

import csv
import datetime
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lighting.cli import app
from schedules import night_sun
from tests.schedules.sites import WEIFANG

EXAMPLE = Path(__file__).resolve().parents[1] / "schedules" / "examples" / "weifang.toml"
runner = CliRunner()

BAD = """
[site]
name = "Tromso"
latitude = 69.65
longitude = 18.96
timezone = "Europe/Oslo"

[programs.all-night]
all-night = { level = 100 }

[zones.harbour]
program = "all-night"
"""


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_explain_shows_each_change_with_its_time_level_and_rule() -> None:
    code, output = _run(
        "plan", "-c", str(EXAMPLE), "--date", "2026-12-24", "--zone", "centre", "--explain"
    )

    assert code == 0, output
    sun = night_sun(WEIFANG, datetime.date(2026, 12, 24))
    assert sun.sunset is not None
    assert sun.sunrise is not None
    on = sun.sunset - datetime.timedelta(minutes=15)
    off = sun.sunrise + datetime.timedelta(minutes=15)
    assert "rule 'christmas-eve' (every 24 December)" in output
    assert "program 'festival'" in output
    lines = [line for line in output.splitlines() if line.startswith("│ 2026")]
    assert len(lines) == 2
    assert f"{on:%Y-%m-%d %H:%M:%S}" in lines[0]
    assert "│     100 │" in lines[0]
    assert "sunset-15min" in lines[0]
    assert "christmas-eve" in lines[0]
    assert f"{off:%Y-%m-%d %H:%M:%S}" in lines[1]
    assert "│       0 │" in lines[1]


def test_explain_as_json_names_the_rule_the_override_and_every_step() -> None:
    code, output = _run(
        "plan", "-c", str(EXAMPLE), "--date", "2026-10-17", "--zone", "centre",
        "--explain", "-f", "json",
    )  # fmt: skip

    assert code == 0, output
    [plan] = json.loads(output)
    assert (plan["rule"], plan["program"], plan["calendar"]) == ("weekend", "late-weekend", "city")
    kinds = [(change["kind"], change["level"]) for change in plan["changes"]]
    assert kinds == [("step", 100), ("step", 60), ("step", 30), ("override", 100), ("resume", 0)]
    assert plan["changes"][3]["override"] == "marathon"
    assert plan["changes"][3]["at"] == "2026-10-18T04:00:00+08:00"
    assert plan["overrides"] == ["marathon"]
    assert [step["fate"] for step in plan["steps"]] == ["fired", "fired", "fired", "overridden"]


def test_a_year_as_csv_has_every_night() -> None:
    code, output = _run(
        "plan", "-c", str(EXAMPLE), "--year", "--date", "2028-03-01", "--zone", "old-town",
        "--format", "csv",
    )  # fmt: skip

    assert code == 0, output
    rows = list(csv.DictReader(io.StringIO(output)))
    nights = sorted({row["night"] for row in rows})
    assert len(nights) == 366  # 2028 is a leap year
    assert nights[0] == "2028-01-01"
    assert nights[-1] == "2028-12-31"
    assert {row["zone"] for row in rows} == {"old-town"}
    market = [row for row in rows if row["rule"] == "night-market"]
    assert {row["night"] for row in market} == {"2028-06-24", "2028-07-29", "2028-08-26"}
    for night in nights:
        levels = [int(row["level"]) for row in rows if row["night"] == night]
        assert levels[0] > 0
        assert levels[-1] == 0
    instants = [datetime.datetime.fromisoformat(row["at"]) for row in rows]
    assert instants == sorted(instants)


def test_the_year_table_has_a_row_per_night() -> None:
    code, output = _run("plan", "-c", str(EXAMPLE), "--year", "--zone", "bus-stops")

    assert code == 0, output
    assert sum(1 for line in output.splitlines() if line.startswith("│ 20")) in (365, 366)


def test_validate_a_sound_file_exits_0_and_prints_the_warnings() -> None:
    code, output = _run("validate", str(EXAMPLE), "--year", "2026")

    assert code == 0, output
    assert "calendars.city" in output
    assert "cannot-fire" in output  # the bus stops' 05:00 in summer, on purpose
    assert "0 errors" in output


def test_validate_exits_1_on_errors_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "tromso.toml"
    path.write_text(BAD)
    code, output = _run("validate", str(path), "--year", "2026", "-f", "json")

    assert code == 1
    report = json.loads(output[: output.rindex("]") + 1])
    [errors] = [item["problems"] for item in report]
    codes = {problem["code"]: problem for problem in errors}
    assert codes["never-on-polar"]["severity"] == "error"
    assert "2026-12-21" in codes["never-on-polar"]["dates"]
    assert "the daemon would refuse this configuration" in output


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "/nonexistent/city.toml"),
        ("plan", "--format", "xml"),
        ("plan", "--lamp", "L-1"),
        ("plan", "--zone", "atlantis"),
        ("plan", "--date", "2026-13-01"),
    ],
)
def test_usage_and_configuration_errors_exit_2(args: tuple[str, ...]) -> None:
    code, _ = _run(*args)
    assert code == 2


def test_a_lamp_plan_includes_the_lamp_s_own_override() -> None:
    common = ("plan", "-c", str(EXAMPLE), "--date", "2026-06-10", "--zone", "industry")
    code, output = _run(*common, "--lamp", "WF-0042", "-f", "json")
    _, zone_output = _run(*common, "-f", "json")

    assert code == 0, output
    [lamp_plan] = json.loads(output)
    [zone_plan] = json.loads(zone_output)
    assert lamp_plan["lamp"] == "WF-0042"
    assert lamp_plan["changes"][0]["override"] == "lamp-wf-0042-test"
    assert lamp_plan["changes"][0]["at"] == "2026-06-10T14:00:00+08:00"
    assert zone_plan["overrides"] == []
