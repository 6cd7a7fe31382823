"""The lamp inventory (CSV and GeoJSON, ``lighting import``) under fuzzing: any text gives
lamps or ``ProtocolError`` (which the CLI turns into a message), and lamps that are read
are written back to a text that reads the same."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lighting.errors import ProtocolError
from lighting.protocol.inventory import (
    COLUMNS,
    InventoryLamp,
    read_csv,
    read_geojson,
    write_csv,
    write_geojson,
)
from tests.fuzz.strategies import LAMP_IDS, SHORT_TEXT, ZONES, budget, mutated, outcome

EXAMPLES = 150

lamps = st.builds(
    InventoryLamp,
    lamp_id=LAMP_IDS,
    zone=ZONES,
    latitude=st.floats(-90, 90),
    longitude=st.floats(-180, 180),
    wattage=st.floats(0, 5000),
    model=SHORT_TEXT,
    kind=st.sampled_from(["led", "sodium"]),
    cell=SHORT_TEXT,
    cabinet=SHORT_TEXT,
    address=SHORT_TEXT,
    port=st.integers(1, 65535),
    report_period_s=st.integers(1, 86_400),
    queue_mode=st.booleans(),
    firmware=SHORT_TEXT,
)
inventories = st.lists(lamps, max_size=4, unique_by=lambda lamp: lamp.lamp_id)

# A failing example with a long line (or payload) is shown shortened, not refused.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)


def _feature(coordinates: str) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": ["LON", 1]},
                    "properties": {"lamp_id": "L1", "zone": "centre", "wattage": 90},
                }
            ],
        }
    ).replace('"LON"', coordinates)


def _texts(write: Callable[[list[InventoryLamp]], str]) -> st.SearchStrategy[str]:
    written = inventories.map(lambda found: write(found).encode())
    return st.one_of(written, mutated(written), st.binary(max_size=200)).map(
        lambda data: data.decode("utf-8", "replace")
    )


def _read_or_refused(
    text: str,
    read: Callable[[str], list[InventoryLamp]],
    write: Callable[[list[InventoryLamp]], str],
) -> None:
    found = outcome(read, text)
    if isinstance(found, ProtocolError):
        assert found.reason
        return
    assert read(write(found)) == found


HEADER = ",".join(COLUMNS)


@given(_texts(write_csv))
@budget(EXAMPLES)
# Bug: a carriage return in an unquoted field (or in the header) escaped as csv.Error.
@example(f"{HEADER}\n0,0,0.0,0.0,0.0,,led,,,,1,1,false,\r0\n")
@example("lamp_id,zo\rne\n")
def test_a_csv_inventory_reads_or_is_refused(text: str) -> None:
    _read_or_refused(text, read_csv, write_csv)


@given(_texts(write_geojson))
@budget(EXAMPLES)
# Bugs: a coordinate past the float range escaped as OverflowError, an integer of over
# 4,300 digits as ValueError, a deep nesting as RecursionError.
@example(_feature("1" * 400))
@example(_feature("1" * 5000))
@example("[" * 100_000)
def test_a_geojson_inventory_reads_or_is_refused(text: str) -> None:
    _read_or_refused(text, read_geojson, write_geojson)


@pytest.mark.parametrize(
    ("text", "read"),
    [
        (f"{HEADER}\nL1,centre,1,1,90,lantern\x00,led,,,,1,1,false,\n", read_csv),
        (_feature("1").replace('"wattage": 90', '"wattage": 90, "cell": "a\\u0000"'), read_geojson),
    ],
    ids=["csv", "geojson"],
)
def test_a_text_that_postgresql_cannot_store_is_refused(
    text: str, read: Callable[[str], list[InventoryLamp]]
) -> None:
    """Bug: a text with NUL was read, then the import failed on PostgreSQL with a database
    error instead of naming the line and column."""
    with pytest.raises(ProtocolError, match="NUL"):
        read(text)
