"""The field crew's commands: output formats and documented exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from lighting.cli import app
from lighting.model import Registration
from lighting.storage import CommandOutcome, Repository

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
    Repository.open(db_url).close()
    result = runner.invoke(app, ["lamps", "--db", db_url, "-f", "json"])
    assert result.exit_code == 1
    assert json.loads(result.output) == []


def test_a_mistyped_database_is_refused_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    result = runner.invoke(app, ["faults", "--db", f"sqlite:///{missing}"])
    assert result.exit_code == 3
    assert "not a citylight database" in result.output
    assert not missing.exists() or missing.stat().st_size == 0


def test_usage_errors_exit_2(db_url: str) -> None:
    Repository.open(db_url).close()
    assert runner.invoke(app, ["faults", "--db", db_url, "--status", "maybe"]).exit_code == 2
    assert runner.invoke(app, ["faults", "--db", db_url, "-f", "xml"]).exit_code == 2
    assert runner.invoke(app, ["plan", "--date", "tomorrow"]).exit_code == 2
    assert runner.invoke(app, ["plan", "--zone", "atlantis"]).exit_code == 2


def test_the_command_log_filters_by_lamp_zone_and_time(db_url: str) -> None:
    t0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    repo = Repository.open(db_url)
    for lamp_id, zone in (("L1", "centre"), ("L2", "centre"), ("L3", "north")):
        reg = Registration(lamp_id=lamp_id, seq=1, zone=zone, latitude=1, longitude=2, wattage=50)
        repo.register_lamp(reg, "127.9.0.1", 5683, t0)
    change_id, ids = repo.create_change(
        zone="centre",
        level=60,
        reason="program main-road",
        planned_at=t0,
        lamp_ids=["L1", "L2"],
        now=t0,
    )
    repo.record_outcomes([CommandOutcome(ids["L1"], "L1", "acknowledged", t0, 850.0, 2)])
    later, _ = repo.create_change(
        zone="north",
        level=40,
        reason="override",
        planned_at=t0,
        lamp_ids=["L3"],
        now=t0 + timedelta(hours=1),
    )
    repo.close()

    by_lamp = runner.invoke(app, ["commands", "--db", db_url, "--lamp", "L1", "-f", "json"])
    assert by_lamp.exit_code == 0, by_lamp.output
    [command] = json.loads(by_lamp.output)
    assert (command["outcome"], command["attempts"], command["latency_ms"]) == (
        "acknowledged",
        2,
        850.0,
    )
    # --since is a local time of the site (Weifang, UTC+8): 18:30 local is 10:30 UTC.
    since = runner.invoke(
        app, ["commands", "--db", db_url, "--since", "2026-11-24T18:30", "-f", "json"]
    )
    assert [c["lamp"] for c in json.loads(since.output)] == ["L3"]
    in_zone = runner.invoke(app, ["commands", "--db", db_url, "--zone", "centre", "-f", "json"])
    assert sorted(c["lamp"] for c in json.loads(in_zone.output)) == ["L1", "L2"]
    none = runner.invoke(app, ["commands", "--db", db_url, "--lamp", "L9"])
    assert none.exit_code == 1

    summary = runner.invoke(app, ["changes", "--db", db_url, "-f", "json"])
    assert summary.exit_code == 0, summary.output
    by_id = {c["change"]: c for c in json.loads(summary.output)}
    assert (by_id[change_id]["acknowledged"], by_id[change_id]["pending"]) == (1, 1)
    assert by_id[later]["pending"] == 1
