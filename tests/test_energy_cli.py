"""``lighting energy`` over a real SQLite database filled through the repository.

The site is the packaged example's, Weifang (UTC+8). The nights are in the past and fixed,
so the command's own clock only decides that they are over.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from lighting.cli import app
from lighting.energy import dark_hours
from lighting.model import Registration, StateReport
from lighting.storage import Repository
from schedules import Site

runner = CliRunner()
WEIFANG = Site("Weifang", 36.71, 119.16, "Asia/Shanghai")
NIGHT = date(2025, 12, 21)
T0 = datetime(2025, 12, 21, 10, 0, tzinfo=UTC)  # 18:00 in Weifang


def _fill(db_url: str) -> None:
    """Two 100 W lamps of the centre at 50 % from 18:00 to 22:00, one 150 W lamp of the
    north at 100 % from 18:00 to 20:00; a report every 10 minutes."""
    repo = Repository.open(db_url)
    lamps = {"C1": ("centre", 100, 50, 240), "C2": ("centre", 100, 50, 240)}
    lamps["N1"] = ("north", 150, 100, 120)
    batch = []
    for lamp_id, (zone, wattage, level, minutes) in lamps.items():
        reg = Registration(
            lamp_id=lamp_id, seq=1, zone=zone, latitude=36.7, longitude=119.1, wattage=wattage
        )
        repo.register_lamp(reg, "127.9.0.1", 5683, T0)
        power = wattage * level / 100
        batch += [
            (
                StateReport(
                    lamp_id=lamp_id,
                    seq=2 + n,
                    level=level,
                    power_w=power,
                    energy_wh=power * minute / 60,
                    burning_s=minute * 60,
                ),
                T0 + timedelta(minutes=minute),
            )
            for n, minute in enumerate(range(0, minutes + 1, 10))
        ]
    repo.store_reports(batch)
    repo.close()


def _energy(db_url: str, *args: str) -> tuple[int, str]:
    """The exit code and what went to stdout (notes go to stderr)."""
    result = runner.invoke(app, ["energy", "--db", db_url, *args])
    return result.exit_code, result.stdout


def test_a_zone_night_as_json_with_its_saving(db_url: str) -> None:
    _fill(db_url)
    nights = ("--from", "2025-12-21", "--to", "2025-12-21")
    code, output = _energy(db_url, "--zone", "centre", *nights, "-f", "json")
    assert code == 0, output
    [line] = json.loads(output)
    dark = dark_hours(WEIFANG, NIGHT)
    assert 14 < dark < 14.5
    assert (line["night"], line["zone"], line["lamp"], line["lamps"]) == (
        "2025-12-21",
        "centre",
        None,
        2,
    )
    assert line["energy_kwh"] == 0.4  # 2 lamps x 50 W x 4 h
    assert line["full_power_kwh"] == pytest.approx(0.2 * dark, abs=1e-3)
    assert line["saving_kwh"] == pytest.approx(0.2 * dark - 0.4, abs=1e-3)
    assert line["saving_pct"] == pytest.approx(100 * (1 - 0.4 / (0.2 * dark)), abs=0.1)
    assert (line["burning_h"], line["mean_level"], line["partial"]) == (4.0, 50.0, False)


def test_every_zone_per_lamp_and_one_lamp(db_url: str) -> None:
    _fill(db_url)
    nights = ("--from", "2025-12-20", "--to", "2025-12-22")
    code, output = _energy(db_url, *nights, "-f", "json")
    assert code == 0, output
    assert [(z["zone"], z["lamps"], z["energy_kwh"]) for z in json.loads(output)] == [
        ("centre", 2, 0.4),
        ("north", 1, 0.3),
    ]
    code, output = _energy(db_url, *nights, "--zone", "centre", "--per-lamp", "-f", "json")
    assert [(z["lamp"], z["energy_kwh"]) for z in json.loads(output)] == [
        ("C1", 0.2),
        ("C2", 0.2),
    ]
    code, output = _energy(db_url, *nights, "--lamp", "N1", "-f", "json")
    [line] = json.loads(output)
    assert (line["lamp"], line["zone"], line["energy_kwh"], line["mean_level"]) == (
        "N1",
        "north",
        0.3,
        100.0,
    )


def test_csv_and_table(db_url: str) -> None:
    _fill(db_url)
    nights = ("--from", "2025-12-21", "--to", "2025-12-21")
    code, output = _energy(db_url, *nights, "-f", "csv")
    assert code == 0, output
    rows = list(csv.DictReader(io.StringIO(output)))
    assert [(r["zone"], r["energy_kwh"], r["lamp"]) for r in rows] == [
        ("centre", "0.4", ""),
        ("north", "0.3", ""),
    ]
    code, output = _energy(db_url, *nights)
    assert code == 0, output
    assert "full power" in output
    assert "centre" in output
    assert "1 night " in output  # the total of the two zones


def test_nights_without_data_exit_1(db_url: str) -> None:
    _fill(db_url)
    code, output = _energy(db_url, "--from", "2025-11-01", "--to", "2025-11-07", "-f", "json")
    assert code == 1
    assert json.loads(output) == []
    assert _energy(db_url, "--lamp", "nobody", "--to", "2025-12-22")[0] == 1


def test_usage_errors_exit_2(db_url: str) -> None:
    _fill(db_url)
    assert _energy(db_url, "--from", "yesterday")[0] == 2
    assert _energy(db_url, "--from", "2025-12-22", "--to", "2025-12-21")[0] == 2
    assert _energy(db_url, "-f", "xml")[0] == 2


def test_a_database_from_before_the_roll_ups_is_rolled_up_on_the_spot(db_url: str) -> None:
    _fill(db_url)
    repo = Repository.open(db_url)
    with repo.engine.begin() as conn:
        conn.execute(text("DROP TABLE hourly"))
        conn.execute(text("DROP TABLE rollup"))
    repo.close()
    code, output = _energy(db_url, "--zone", "north", "--to", "2025-12-21", "-f", "json")
    assert code == 0, output
    assert [line["energy_kwh"] for line in json.loads(output)] == [0.3]
