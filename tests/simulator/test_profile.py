"""City profiles: validated at the edge, written back as they were read, and the same seed
always builds the same city."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator import FleetError, ProfileError, SimFault, build_city, default_profile
from simulator.cli import sim_app
from simulator.profile import CoverageClass, dump_profile, load_profile

CITY = """
[city]
name = "test-town"
timezone = "Europe/Paris"
seed = 11
base_address = "127.9.0.1"
port = 5800

[fallback]
program = "midnight-dimming"
level = 90
dimmed = 40
window = "5h"
after_s = 300

[network]
wake_window_s = 5

[network.coverage.normal]
latency_s = 0.01
loss = 0.0

[network.coverage.extended]
latency_s = 0.2
loss = 0.01

[network.coverage.extreme]
latency_s = 0.9
loss = 0.1

[[network.cells]]
name = "west"
latitude = 48.85
longitude = 2.30
coverage = "normal"

[[network.cells]]
name = "east"
latitude = 48.85
longitude = 2.40
coverage = "extreme"

[[models]]
name = "led-40"
wattage = 40
min_level = 10

[[models]]
name = "hps-100"
kind = "sodium"
wattage = 100
min_level = 50
warmup_s = 180

[[zones]]
name = "avenue"
street = [[48.85, 2.29], [48.85, 2.41]]
lamps = { led-40 = 30, hps-100 = 10 }
lamps_per_cabinet = 10
sleepy = 0.25

[[zones]]
name = "park"
bbox = [48.86, 2.33, 48.87, 2.35]
lamps = { led-40 = 20 }

[faults.rates]
lamp-failure = 0.1
supply-loss = 0.2

[[faults.schedule]]
at_s = 60
kind = "cell-silent"
cell = "east"
duration_s = 30

[[faults.schedule]]
at_s = 10
kind = "overheating"
zone = "park"
"""


@pytest.fixture
def city_file(tmp_path: Path) -> Path:
    path = tmp_path / "town.toml"
    path.write_text(CITY)
    return path


def test_a_profile_round_trips(city_file: Path, tmp_path: Path) -> None:
    for profile in (load_profile(city_file), default_profile()):
        written = tmp_path / "again.toml"
        written.write_text(dump_profile(profile))
        assert load_profile(written) == profile
        assert dump_profile(load_profile(written)) == dump_profile(profile)


def test_the_same_seed_gives_the_same_city(city_file: Path) -> None:
    profile = load_profile(city_file)
    first, again = build_city(profile), build_city(profile)
    assert first == again
    assert first.seed == 11  # the profile's own seed
    other = build_city(profile, seed=12)
    assert [s.latitude for s in other.specs] != [s.latitude for s in first.specs]
    big = build_city(default_profile(), lamps=10_000, seed=7)
    assert big == build_city(default_profile(), lamps=10_000, seed=7)
    assert len(big.specs) == 10_000
    assert len({spec.address for spec in big.specs}) == 10_000


def test_a_city_follows_its_profile(city_file: Path) -> None:
    city = build_city(load_profile(city_file))
    avenue = [s for s in city.specs if s.zone == "avenue"]
    park = [s for s in city.specs if s.zone == "park"]
    assert (len(avenue), len(park)) == (40, 20)
    assert {s.model for s in avenue} == {"led-40", "hps-100"}
    sodium = [s for s in avenue if s.model == "hps-100"]
    assert {(s.kind.value, s.min_level, s.warmup_s) for s in sodium} == {("sodium", 50, 180.0)}
    # Along the street, evenly, from west to east; each lamp in the nearest cell.
    longitudes = [s.longitude for s in avenue]
    assert longitudes == sorted(longitudes)
    assert all(
        2.29 < lon < 2.41 and s.latitude == 48.85 for s, lon in zip(avenue, longitudes, strict=True)
    )
    assert {s.cell for s in avenue if s.longitude < 2.34} == {"west"}
    assert {s.cell for s in avenue if s.longitude > 2.36} == {"east"}
    assert all(48.86 <= s.latitude <= 48.87 and 2.33 <= s.longitude <= 2.35 for s in park)
    # Cabinets of ten neighbours; a sleepy quarter; addresses from the base on the port.
    assert sorted({s.cabinet for s in avenue}) == [f"avenue-c0{i}" for i in range(1, 5)]
    assert 2 <= sum(s.sleepy for s in avenue) <= 20
    assert (city.specs[0].address, city.specs[-1].address) == ("127.9.0.1", "127.9.0.60")
    assert {s.port for s in city.specs} == {5800}
    cells = {c.cell_id: c for c in city.cells}
    assert (cells["east"].coverage, cells["east"].latency_s, cells["east"].loss) == (
        CoverageClass.EXTREME,
        0.9,
        0.1,
    )
    fallback = city.specs[0].fallback
    assert fallback is not None
    assert fallback.after_s == 300
    assert fallback.site.timezone == "Europe/Paris"


def test_fault_rates_and_schedule_become_planned_faults(city_file: Path) -> None:
    city = build_city(load_profile(city_file))
    at_start = [f for f in city.faults if f.at_s == 0]
    failures = [f for f in at_start if f.kind is SimFault.LAMP_FAILURE]
    assert len(failures) == 6  # 10 % of 60 lamps
    cut = [f for f in at_start if f.kind is SimFault.SUPPLY_LOSS]
    assert len(cut) == 1  # 20 % of the 6 cabinets, rounded
    assert cut[0].lamps == tuple(city.cabinets()[cut[0].target.split()[1]])
    silent = next(f for f in city.faults if f.kind is SimFault.CELL_SILENT)
    assert (silent.at_s, silent.cell, silent.duration_s, silent.lamps) == (60, "east", 30, ())
    hot = next(f for f in city.faults if f.kind is SimFault.OVERHEATING)
    assert set(hot.lamps) == {s.lamp_id for s in city.specs if s.zone == "park"}


def test_scaling_keeps_the_shares_and_the_exact_total() -> None:
    profile = default_profile()
    scaled = profile.scaled(10_001)
    assert scaled.lamp_count == 10_001
    for before, after in zip(profile.zones, scaled.zones, strict=True):
        for model, count in before.lamps.items():
            expected = count * 10_001 / profile.lamp_count
            assert math.floor(expected) <= after.lamps[model] <= math.ceil(expected)


@pytest.mark.parametrize(
    ("change", "table", "key", "words"),
    [
        (
            ("lamps_per_cabinet = 10", 'lamps_per_cabinet = 10\ncolour = "red"'),
            "zones #1",
            "colour",
            "Extra inputs",
        ),
        (("wattage = 40", "wattage = -40"), "models #1", "wattage", "greater than 0"),
        (("lamps = { led-40 = 20 }", "lamps = { led-60 = 20 }"), "", "", "no model named 'led-60'"),
        (
            ("bbox = [48.86, 2.33, 48.87, 2.35]", "bbox = [48.87, 2.33, 48.86, 2.35]"),
            "zones #2",
            "",
            "south < north",
        ),
        (
            ("latency_s = 0.9", "latency_s = 0.9\njitter = 1"),
            "network.coverage.extreme",
            "jitter",
            "Extra",
        ),
        (
            ('kind = "overheating"', 'kind = "meltdown"'),
            "faults.schedule #2",
            "kind",
            "Input should be",
        ),
        (
            ('base_address = "127.9.0.1"', 'base_address = "10.0.0.1"'),
            "city",
            "base_address",
            "not a loopback",
        ),
        (
            ('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"'),
            "city",
            "timezone",
            "Mars/Olympus",
        ),
    ],
)
def test_errors_name_the_file_the_table_and_the_key(
    tmp_path: Path, change: tuple[str, str], table: str, key: str, words: str
) -> None:
    path = tmp_path / "bad.toml"
    old, new = change
    assert old in CITY
    path.write_text(CITY.replace(old, new, 1))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    error = caught.value
    assert (error.source, error.table, error.key) == (str(path), table, key)
    assert str(path) in str(error)
    assert words in str(error)


def test_a_file_that_is_not_toml_or_not_there_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[city\nname = 1")
    with pytest.raises(ProfileError, match="not TOML"):
        load_profile(broken)
    with pytest.raises(ProfileError, match=r"missing\.toml"):
        load_profile(tmp_path / "missing.toml")


def test_a_schedule_naming_what_the_city_lacks_is_refused(city_file: Path) -> None:
    text = city_file.read_text().replace('zone = "park"', 'cabinet = "park-c09"')
    city_file.write_text(text)
    with pytest.raises(FleetError, match="no cabinet 'park-c09'"):
        build_city(load_profile(city_file))


def test_the_command_writes_the_same_city_for_the_same_seed(tmp_path: Path) -> None:
    runner = CliRunner()
    for folder in ("a", "b"):
        result = runner.invoke(
            sim_app, ["inventory", str(tmp_path / folder), "--lamps", "10000", "--seed", "7"]
        )
        assert result.exit_code == 0, result.output
    first = (tmp_path / "a" / "inventory.csv").read_text()
    assert first == (tmp_path / "b" / "inventory.csv").read_text()
    assert first.count("\n") == 10_001
    other = runner.invoke(
        sim_app, ["inventory", str(tmp_path / "c"), "--lamps", "10000", "--seed", "8"]
    )
    assert other.exit_code == 0
    assert (tmp_path / "c" / "inventory.csv").read_text() != first


def test_a_city_scaled_below_its_fault_schedule_runs_without_faults(tmp_path: Path) -> None:
    # 40 lamps of the default city have no cabinet north-c02, which its schedule names.
    runner = CliRunner()
    refused = runner.invoke(sim_app, ["--lamps", "40", "--control", str(tmp_path / "s")])
    assert refused.exit_code == 2
    assert "no cabinet 'north-c02'" in refused.output
    assert "--no-faults" in refused.output
    # The inventory has no faults to place: the same 40 lamps either way.
    result = runner.invoke(sim_app, ["inventory", str(tmp_path / "small"), "--lamps", "40"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "small" / "inventory.csv").read_text().count("\n") == 41


def test_the_command_refuses_a_bad_profile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(CITY.replace('name = "park"', 'name = "Park!"'))
    result = CliRunner().invoke(sim_app, ["--profile", str(bad)])
    assert result.exit_code == 2
    assert "zones #2" in result.output
