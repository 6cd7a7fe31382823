"""The field crew's fault commands over a real SQLite record: filters, near-me, formats,
the story of one fault, acknowledging and resolving, incidents, and the exit codes."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from lighting.cli import app
from lighting.geo import distance_m
from lighting.model import FaultKind, Registration, StateReport
from lighting.storage import Repository

runner = CliRunner()
T0 = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 22:00 in Weifang
HERE = (36.7100, 119.1600)
K = FaultKind


def _lamp(repo: Repository, lamp_id: str, zone: str, north_m: float, cell: str) -> None:
    reg = Registration(
        lamp_id=lamp_id,
        seq=1,
        zone=zone,
        latitude=HERE[0] + north_m / 111_195,
        longitude=HERE[1],
        wattage=100,
        cell=cell,
    )
    repo.register_lamp(reg, "127.9.0.1", 5683, T0)


@pytest.fixture
def record(db_url: str) -> str:
    """Lamps at 100 m, 800 m, 1.5 km and 5 km north of HERE, faults on them, and a cell of
    five silent lamps grouped into an incident."""
    repo = Repository.open(db_url)
    _lamp(repo, "A100", "centre", 100, "cell-1")
    _lamp(repo, "B800", "north", 800, "cell-1")
    _lamp(repo, "C1500", "centre", 1500, "cell-1")
    _lamp(repo, "D5000", "north", 5000, "cell-1")
    for index in range(5):
        _lamp(repo, f"S{index}", "harbour", 9000 + index * 30, "cell-9")
    repo.store_reports(
        [
            (
                StateReport(
                    "A100", 2, 0, 0.0, 10.0, 100, 230.0, faults=frozenset({K.LAMP_FAILURE})
                ),
                T0,
            ),
            (
                StateReport(
                    "A100", 3, 0, 0.0, 10.0, 100, 230.0, faults=frozenset({K.LAMP_FAILURE})
                ),
                T0 + timedelta(minutes=1),
            ),
        ]
    )
    repo.open_fault("A100", K.LAMP_FAILURE, "lamp", T0)
    repo.open_fault("B800", K.DAY_BURNER, "controller", T0 + timedelta(minutes=1))
    repo.open_fault("C1500", K.VOLTAGE_LOW, "controller", T0 + timedelta(minutes=2))
    repo.open_fault("D5000", K.SUPPLY_LOSS, "lamp", T0 + timedelta(minutes=3))
    for index in range(5):
        repo.open_fault(f"S{index}", K.COMMS_LOST, "controller", T0 + timedelta(minutes=4))
    repo.group_incident(K.COMMS_LOST, "cell-9", T0 + timedelta(minutes=4))
    repo.close()
    return db_url


def _json(args: list[str], exit_code: int = 0) -> Any:
    result = runner.invoke(app, args)
    assert result.exit_code == exit_code, result.output
    return json.loads(result.output)


def test_the_default_listing_shows_active_faults_and_the_incident_not_its_lamps(
    record: str,
) -> None:
    result = runner.invoke(app, ["faults", "--db", record])
    assert result.exit_code == 0, result.output
    assert "4 faults" in result.output
    assert "1 incidents" in result.output
    assert "cell-9" in result.output
    assert "S0" not in result.output
    shown = _json(["faults", "--db", record, "-f", "json"])
    assert [f["lamp"] for f in shown] == ["D5000", "C1500", "B800", "A100"]
    grouped = _json(["faults", "--db", record, "-f", "json", "--grouped"])
    assert len(grouped) == 9


@pytest.mark.parametrize(
    ("args", "lamps"),
    [
        (["--zone", "north"], ["D5000", "B800"]),
        (["--kind", "lamp-failure,day-burner"], ["B800", "A100"]),
        (["--kind", "lamp-failure", "--kind", "supply-loss"], ["D5000", "A100"]),
        (["--severity", "critical"], ["D5000"]),
        (["--severity", "major", "--zone", "centre"], ["C1500", "A100"]),
        (["--lamp", "S3"], ["S3"]),
        (["--since", "2026-11-24T22:02"], ["D5000", "C1500"]),  # site time, Asia/Shanghai
    ],
)
def test_filters(record: str, args: list[str], lamps: list[str]) -> None:
    shown = _json(["faults", "--db", record, "-f", "json", *args])
    assert [f["lamp"] for f in shown] == lamps


def test_near_me_lists_the_faults_within_reach_nearest_first_with_their_distance(
    record: str,
) -> None:
    near = f"{HERE[0]},{HERE[1]}"
    shown = _json(["faults", "--db", record, "-f", "json", "--near", near])  # default 2 km
    assert [(f["lamp"], round(f["distance_m"], -1)) for f in shown] == [
        ("A100", 100),
        ("B800", 800),
        ("C1500", 1500),
    ]
    first = shown[0]
    assert first["distance_m"] == pytest.approx(
        distance_m(*HERE, first["latitude"], first["longitude"]), abs=0.1
    )
    close = _json(["faults", "--db", record, "-f", "json", "--near", near, "--within", "500m"])
    assert [f["lamp"] for f in close] == ["A100"]
    table = runner.invoke(app, ["faults", "--db", record, "--near", near, "--within", "1km"])
    assert table.exit_code == 0
    assert "800 m" in table.output


def test_csv_and_geojson_for_spreadsheets_and_map_apps(record: str) -> None:
    result = runner.invoke(app, ["faults", "--db", record, "-f", "csv", "--zone", "centre"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["lamp"], r["kind"], r["severity"]) for r in rows] == [
        ("C1500", "voltage-low", "major"),
        ("A100", "lamp-failure", "major"),
    ]
    geo = _json(["faults", "--db", record, "-f", "geojson"])
    assert geo["type"] == "FeatureCollection"
    features = geo["features"]
    assert {f["properties"]["type"] for f in features} == {"fault", "incident"}
    a100 = next(f for f in features if f["properties"].get("lamp") == "A100")
    lon, lat = a100["geometry"]["coordinates"]
    assert (lon, round(lat, 4)) == (HERE[1], round(HERE[0] + 100 / 111_195, 4))


def test_show_tells_the_whole_story_of_a_fault(record: str) -> None:
    (fault,) = _json(["faults", "--db", record, "-f", "json", "--lamp", "A100"])
    told = _json(["faults", "show", str(fault["id"]), "--db", record, "-f", "json"])
    assert told["fault"]["kind"] == "lamp-failure"
    assert told["lamp"]["lamp"] == "A100"
    assert [r["seq"] for r in told["reports"]] == [3, 2]
    assert told["reports"][0]["faults"] == ["lamp-failure"]
    text = runner.invoke(app, ["faults", "show", str(fault["id"]), "--db", record])
    assert text.exit_code == 0
    assert "openstreetmap.org" in text.output
    assert "The lamp gives no light" in text.output
    missing = runner.invoke(app, ["faults", "show", "999", "--db", record])
    assert missing.exit_code == 1
    assert "no fault 999" in missing.output


def test_a_crew_acknowledges_then_resolves_a_fault_with_a_note(record: str) -> None:
    (fault,) = _json(["faults", "--db", record, "-f", "json", "--lamp", "B800"])
    fid = str(fault["id"])
    acked = runner.invoke(app, ["faults", "ack", fid, "--by", "crew-7", "--db", record])
    assert acked.exit_code == 0, acked.output
    (now,) = _json(["faults", "--db", record, "-f", "json", "--status", "acknowledged"])
    assert (now["lamp"], now["acknowledged_by"]) == ("B800", "crew-7")
    done = runner.invoke(
        app,
        ["faults", "resolve", fid, "--by", "crew-7", "--note", "relay replaced", "--db", record],
    )
    assert done.exit_code == 0, done.output
    (closed,) = _json(["faults", "--db", record, "-f", "json", "--status", "resolved"])
    assert (closed["resolved_by"], closed["note"]) == ("crew-7", "relay replaced")
    again = runner.invoke(app, ["faults", "resolve", fid, "--by", "crew-7", "--db", record])
    assert again.exit_code == 1
    assert "resolved already" in again.output


def test_incidents_list_show_and_resolve_with_every_fault_in_them(record: str) -> None:
    (incident,) = _json(["incidents", "--db", record, "-f", "json"])
    assert (incident["cell"], incident["lamps"], incident["zones"]) == ("cell-9", 5, ["harbour"])
    shown = _json(["incidents", "show", str(incident["id"]), "--db", record, "-f", "json"])
    assert len(shown["faults"]) == 5
    iid = str(incident["id"])
    assert (
        runner.invoke(app, ["incidents", "ack", iid, "--by", "op", "--db", record]).exit_code == 0
    )
    done = runner.invoke(
        app,
        ["incidents", "resolve", iid, "--by", "crew-2", "--note", "mast repaired", "--db", record],
    )
    assert done.exit_code == 0, done.output
    assert "5 faults" in done.output
    none = runner.invoke(app, ["incidents", "--db", record, "-f", "json"])
    assert none.exit_code == 1
    assert _json(["faults", "--db", record, "-f", "json", "--lamp", "S1"], exit_code=1) == []


def test_a_lamps_story(record: str) -> None:
    told = _json(["lamp", "A100", "--db", record, "-f", "json"])
    assert told["lamp"]["zone"] == "centre"
    assert [f["kind"] for f in told["faults"]] == ["lamp-failure"]
    assert runner.invoke(app, ["lamp", "nobody", "--db", record]).exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--kind", "melted"],
        ["--severity", "apocalyptic"],
        ["--status", "forgotten"],
        ["--near", "north pole"],
        ["--near", "36.7,119.1", "--within", "far"],
        ["--within", "2km"],
        ["--since", "last tuesday"],
        ["-f", "xml"],
    ],
)
def test_usage_errors_exit_2_with_a_reason(record: str, args: list[str]) -> None:
    result = runner.invoke(app, ["faults", "--db", record, *args])
    assert result.exit_code == 2, result.output
