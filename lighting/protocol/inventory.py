"""The lamp inventory: the city's list of lamps as CSV or GeoJSON, written by the simulator
(or a city's asset register) and imported by the controller (``lighting import``).

Pure: text in, frozen values out, and back. One row per lamp with where it stands, what it
drives and where its node listens, so the controller knows every lamp before it registers.
Rows are checked with the rules of protocol v1 (lamp ids, zones, coordinates, wattage);
a bad row raises ``ProtocolError`` naming its line (CSV) or feature (GeoJSON) and column.

CSV columns, in this order (the header is required; unknown columns are refused)::

    lamp_id,zone,latitude,longitude,wattage,model,kind,cell,cabinet,address,port,
    report_period_s,queue_mode,firmware

GeoJSON: a ``FeatureCollection`` of ``Point`` features (longitude first), each with the
other columns as ``properties``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from lighting.errors import ProtocolError
from lighting.model import check_lamp_id, check_number, check_zone

__all__ = [
    "COLUMNS",
    "InventoryLamp",
    "read_csv",
    "read_geojson",
    "read_inventory",
    "write_csv",
    "write_geojson",
]

_KINDS: Final = frozenset({"led", "sodium"})


@dataclass(frozen=True, slots=True)
class InventoryLamp:
    """One lamp of the inventory."""

    lamp_id: str
    zone: str
    latitude: float
    longitude: float
    wattage: float
    model: str = ""
    kind: str = "led"
    """``led`` or ``sodium`` (high-pressure sodium)."""
    cell: str = ""
    cabinet: str = ""
    """The feeder pillar or cabinet that supplies the lamp (a supply loss takes them all)."""
    address: str = ""
    """Where the lamp's node listens (an IP address); empty when not known yet."""
    port: int = 5683
    report_period_s: int = 60
    queue_mode: bool = False
    firmware: str = ""

    def __post_init__(self) -> None:
        check_lamp_id(self.lamp_id)
        check_zone(self.zone)
        check_number(self.latitude, what="latitude", low=-90, high=90)
        check_number(self.longitude, what="longitude", low=-180, high=180)
        check_number(self.wattage, what="wattage", low=0, high=5000)
        if self.kind not in _KINDS:
            raise ProtocolError(f"kind {self.kind!r} must be led or sodium")
        for name in ("model", "cell", "cabinet", "address", "firmware"):
            if len(getattr(self, name)) > 64:
                raise ProtocolError(f"{name} must be at most 64 characters")
        if not 0 < self.port < 65536:
            raise ProtocolError(f"port {self.port} is out of range 1..65535")
        if not 1 <= self.report_period_s <= 86_400:
            raise ProtocolError(f"report period {self.report_period_s} s is out of range 1..86400")


COLUMNS: Final = tuple(f.name for f in fields(InventoryLamp))
_REQUIRED: Final = frozenset({"lamp_id", "zone", "latitude", "longitude", "wattage"})
_FLOATS: Final = frozenset({"latitude", "longitude", "wattage"})
_INTS: Final = frozenset({"port", "report_period_s"})
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no", ""})


def _convert(name: str, raw: Any) -> Any:
    if name in _FLOATS:
        if isinstance(raw, bool):
            raise ProtocolError("must be a number")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ProtocolError(f"{raw!r} is not a number") from None
        except OverflowError:  # an integer past the float range
            raise ProtocolError("the number is out of range") from None
    if name in _INTS:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ProtocolError(f"{raw!r} is not a whole number")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ProtocolError(f"{raw!r} is not a whole number") from None
    if name == "queue_mode":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ProtocolError(f"{raw!r} is not true or false")
    if not isinstance(raw, str):
        raise ProtocolError(f"{raw!r} is not text")
    if "\x00" in raw:  # PostgreSQL cannot store it
        raise ProtocolError("a text must not contain NUL")
    return raw


def _lamp(values: Mapping[str, Any], where: str) -> InventoryLamp:
    unknown = sorted(set(values) - set(COLUMNS))
    if unknown:
        raise ProtocolError(f"{where}: unknown column {unknown[0]!r}")
    missing = sorted(_REQUIRED - {k for k, v in values.items() if v not in (None, "")})
    if missing:
        raise ProtocolError(f"{where}: {missing[0]} is missing")
    converted: dict[str, Any] = {}
    for name, raw in values.items():
        if raw is None or (raw == "" and name not in _REQUIRED and name != "queue_mode"):
            continue
        try:
            converted[name] = _convert(name, raw)
        except ProtocolError as err:
            raise ProtocolError(f"{where}, {name}: {err.reason}") from err
    try:
        return InventoryLamp(**converted)
    except ProtocolError as err:
        raise ProtocolError(f"{where}: {err.reason}") from err


def _unique(lamps: Sequence[InventoryLamp]) -> list[InventoryLamp]:
    seen: set[str] = set()
    for lamp in lamps:
        if lamp.lamp_id in seen:
            raise ProtocolError(f"lamp {lamp.lamp_id} appears twice")
        seen.add(lamp.lamp_id)
    return list(lamps)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_csv(lamps: Iterable[InventoryLamp]) -> str:
    """The inventory as CSV text, with a header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # Lines end in "\n", so the csv module does not quote a value that holds a carriage
    # return, and reading it back fails: a row with one is written all quoted.
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS)
    for lamp in lamps:
        row = [_cell(getattr(lamp, name)) for name in COLUMNS]
        (quoted if any("\r" in value for value in row) else writer).writerow(row)
    return out.getvalue()


def read_csv(text: str) -> list[InventoryLamp]:
    """Lamps from CSV text; ``ProtocolError`` naming the line and column of a bad value."""
    reader = csv.DictReader(io.StringIO(text))
    lamps = []
    try:
        if reader.fieldnames is None:
            raise ProtocolError("the inventory is empty: a header line is needed")
        for row in reader:
            if None in row:
                raise ProtocolError(f"line {reader.line_num}: more values than columns")
            lamps.append(_lamp(row, f"line {reader.line_num}"))
    except csv.Error as err:  # a stray carriage return or quote the reader cannot place
        raise ProtocolError(f"line {reader.line_num}: {err}") from err
    return _unique(lamps)


def write_geojson(lamps: Iterable[InventoryLamp]) -> str:
    """The inventory as a GeoJSON ``FeatureCollection`` of points (longitude first)."""
    features = [
        {
            "type": "Feature",
            "id": lamp.lamp_id,
            "geometry": {"type": "Point", "coordinates": [lamp.longitude, lamp.latitude]},
            "properties": {
                name: getattr(lamp, name)
                for name in COLUMNS
                if name not in ("latitude", "longitude")
            },
        }
        for lamp in lamps
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1) + "\n"


def read_geojson(text: str) -> list[InventoryLamp]:
    """Lamps from a GeoJSON ``FeatureCollection`` of points."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        # ValueError: not JSON (JSONDecodeError) or an integer of over 4,300 digits;
        # RecursionError: arrays or objects nested too deep for the parser.
        raise ProtocolError(f"not JSON: {str(err)[:200]}") from err
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ProtocolError("a GeoJSON inventory is a FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise ProtocolError("the FeatureCollection has no list of features")
    lamps = []
    for number, feature in enumerate(features, start=1):
        where = f"feature {number}"
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            raise ProtocolError(f"{where}: the geometry must be a Point")
        coordinates = geometry.get("coordinates")
        if not isinstance(coordinates, list) or len(coordinates) not in (2, 3):
            raise ProtocolError(f"{where}: a Point has [longitude, latitude]")
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            raise ProtocolError(f"{where}: properties must be an object")
        values = {**properties, "longitude": coordinates[0], "latitude": coordinates[1]}
        lamps.append(_lamp(values, where))
    return _unique(lamps)


def read_inventory(text: str, name: str) -> list[InventoryLamp]:
    """Lamps from a file's text; GeoJSON when ``name`` ends in .geojson or .json, else CSV."""
    lowered = name.lower()
    if lowered.endswith((".geojson", ".json")):
        return read_geojson(text)
    return read_csv(text)
