"""The field crew's commands: output formats and documented exit codes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lighting.cli import app

runner = CliRunner()


def test_plan_as_json_gives_each_change_with_its_sun_times() -> None:
    result = runner.invoke(app, ["plan", "--date", "2026-12-21", "--zone", "centre", "-f", "json"])
    assert result.exit_code == 0, result.output
    [plan] = json.loads(result.output)
    assert plan["zone"] == "centre"
    assert plan["sun"]["case"] == "normal"
    assert plan["sun"]["sunset"].startswith("2026-12-21T16:")
    assert [(c["at"][11:16], c["level"], c["step"]) for c in plan["changes"]][1:3] == [
        ("23:00", 60, "23:00"),
        ("01:00", 30, "01:00"),
    ]
    assert plan["changes"][0]["step"] == "sunset-10min"


def test_an_empty_database_lists_no_lamps_and_exits_1(db_url: str) -> None:
    result = runner.invoke(app, ["lamps", "--db", db_url, "-f", "json"])
    assert result.exit_code == 1
    assert json.loads(result.output) == []


def test_usage_errors_exit_2(db_url: str) -> None:
    assert runner.invoke(app, ["faults", "--db", db_url, "--status", "maybe"]).exit_code == 2
    assert runner.invoke(app, ["faults", "--db", db_url, "-f", "xml"]).exit_code == 2
    assert runner.invoke(app, ["plan", "--date", "tomorrow"]).exit_code == 2
    assert runner.invoke(app, ["plan", "--zone", "atlantis"]).exit_code == 2
