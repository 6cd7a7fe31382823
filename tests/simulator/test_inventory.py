"""The city as an inventory (CSV, GeoJSON) and ``lighting import``: the controller knows every
lamp before it registers, and what a registered lamp said of itself wins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lighting.cli import app
from lighting.errors import ProtocolError
from lighting.model import Registration
from lighting.protocol.inventory import (
    COLUMNS,
    InventoryLamp,
    read_csv,
    read_geojson,
    read_inventory,
    write_csv,
    write_geojson,
)
from lighting.storage import Repository
from simulator import build_city, default_profile

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def lamps() -> list[InventoryLamp]:
    return build_city(default_profile(), lamps=300).inventory()


def test_a_carriage_return_in_a_value_round_trips_as_csv() -> None:
    # Found by tests/fuzz/test_inventory.py: written unquoted, the reader refused the line.
    lamp = InventoryLamp("L1", "centre", 36.7, 119.1, 90.0, model="\r", firmware="a\rb")
    plain = InventoryLamp("L2", "centre", 36.7, 119.1, 90.0, model="M-1")
    text = write_csv([lamp, plain])
    assert read_csv(text) == [lamp, plain]
    # Rows without one stay unquoted.
    assert text.split("\n")[2] == "L2,centre,36.7,119.1,90.0,M-1,led,,,,5683,60,false,"


def test_the_inventory_round_trips_as_csv_and_geojson(lamps: list[InventoryLamp]) -> None:
    assert read_csv(write_csv(lamps)) == lamps
    assert read_geojson(write_geojson(lamps)) == lamps
    features = json.loads(write_geojson(lamps))["features"]
    first = lamps[0]
    assert features[0]["geometry"] == {
        "type": "Point",
        "coordinates": [first.longitude, first.latitude],
    }
    assert features[0]["properties"]["cabinet"] == first.cabinet
    assert {lamp.kind for lamp in lamps} == {"led", "sodium"}
    assert any(lamp.queue_mode for lamp in lamps)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lamp_id,zone\nL1,centre\n", "line 2: latitude is missing"),
        ("lamp_id,zone,latitude,longitude,wattage\nL1,centre,95,119,60\n", "out of range"),
        ("lamp_id,zone,latitude,longitude,wattage\nL1,Centre,36,119,60\n", "line 2: zone"),
        ("lamp_id,zone,latitude,longitude,wattage,colour\nL1,c,36,119,60,red\n", "'colour'"),
        ("lamp_id,zone,latitude,longitude,wattage,port\nL1,c,36,119,60,x\n", "line 2, port"),
        (
            "lamp_id,zone,latitude,longitude,wattage\nL1,c,36,119,60\nL1,c,36,119,60\n",
            "L1 appears twice",
        ),
        ("", "empty"),
    ],
)
def test_a_bad_csv_row_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        read_csv(text)


def test_a_bad_geojson_feature_is_refused_with_its_number() -> None:
    line = {"type": "LineString", "coordinates": [[119, 36], [119.1, 36]]}
    collection = {"type": "FeatureCollection", "features": [{"geometry": line}]}
    with pytest.raises(ProtocolError, match="feature 1: the geometry must be a Point"):
        read_geojson(json.dumps(collection))
    with pytest.raises(ProtocolError, match="FeatureCollection"):
        read_inventory("{}", "city.geojson")


def test_lighting_import_registers_the_city_before_it_speaks(
    lamps: list[InventoryLamp], tmp_path: Path
) -> None:
    csv_path = tmp_path / "inventory.csv"
    csv_path.write_text(write_csv(lamps))
    url = f"sqlite:///{tmp_path / 'city.db'}"
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(csv_path), "--db", url])
    assert result.exit_code == 0, result.output
    assert "300 lamps, 300 added, 0 updated" in result.output

    repo = Repository.open(url)
    try:
        stored = {lamp.lamp_id: lamp for lamp in repo.lamps()}
        assert set(stored) == {lamp.lamp_id for lamp in lamps}
        first = lamps[0]
        record = stored[first.lamp_id]
        assert (record.zone, record.address, record.port, record.cell, record.wattage) == (
            first.zone,
            first.address,
            first.port,
            first.cell,
            first.wattage,
        )
        assert not record.in_contact  # not heard from yet
        # The lamp registers from another address: what it says wins over the inventory.
        registration = Registration(
            lamp_id=first.lamp_id,
            seq=1,
            zone=first.zone,
            latitude=first.latitude,
            longitude=first.longitude,
            wattage=first.wattage,
        )
        repo.register_lamp(registration, "127.200.0.9", 40_000, NOW)
    finally:
        repo.close()

    geojson_path = tmp_path / "inventory.geojson"
    geojson_path.write_text(write_geojson(lamps))
    again = runner.invoke(app, ["import", str(geojson_path), "--db", url])
    assert again.exit_code == 0, again.output
    assert "300 lamps, 0 added, 299 updated, 1 kept as registered" in again.output
    repo = Repository.open(url)
    try:
        kept = repo.lamp(lamps[0].lamp_id)
        assert kept is not None
        assert (kept.address, kept.port) == ("127.200.0.9", 40_000)
    finally:
        repo.close()


def test_lighting_import_refuses_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(COLUMNS) + "\nL1,centre,36.7,119.1,60,m,plasma,,,,5683,60,false,\n")
    result = CliRunner().invoke(app, ["import", str(bad), "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2
    assert "plasma" in result.output
    missing = CliRunner().invoke(app, ["import", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2
