"""City profiles: a TOML file that describes a simulated city, validated at the edge.

A profile names the city (its time zone, where its lamps listen), the lamp models, the
zones (a bounding box or a street polyline, and how many lamps of each model), the radio
network (cells and their coverage class: latency and loss), the lamps' own fallback
program, and the faults (rates at start, and a schedule). Every table refuses unknown keys;
an error names the file, the table and the key (``ProfileError``). ``dump_profile`` writes
a profile back as TOML that loads to the same profile.

The packaged default (``simulator/profiles/default.toml``) is what ``lighting sim`` runs
without ``--profile``; ``--lamps N`` scales its counts.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import math
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schedules import (
    Program,
    ScheduleError,
    all_night,
    midnight_dimming,
    part_night,
)
from simulator.errors import ProfileError
from simulator.faults import SimFault

__all__ = [
    "DEFAULT_PROFILE",
    "CellProfile",
    "CityTable",
    "Coverage",
    "CoverageClass",
    "FallbackTable",
    "FaultsTable",
    "ModelProfile",
    "NetworkTable",
    "Profile",
    "ScheduledFault",
    "ZoneProfile",
    "default_profile",
    "dump_profile",
    "load_profile",
    "parse_profile",
]

DEFAULT_PROFILE = "default.toml"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

Slug = Annotated[str, Field(pattern=_SLUG.pattern)]
Name = Annotated[str, Field(pattern=_NAME.pattern)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Share = Annotated[float, Field(ge=0, le=1)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CoverageClass(enum.StrEnum):
    """NB-IoT coverage enhancement classes: each deeper class repeats more and waits longer."""

    NORMAL = "normal"
    EXTENDED = "extended"
    EXTREME = "extreme"


class CityTable(_Table):
    """``[city]``: the place, and where its lamps listen."""

    name: str = "city"
    timezone: str = "UTC"
    seed: int = 7
    base_address: str = "127.1.0.1"
    port: int = Field(default=5693, gt=0, lt=65536)
    id_prefix: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9._:-]{0,40}$")] = "L"
    report_period_s: int = Field(default=60, ge=1, le=86_400)
    firmware: str = Field(default="citylight-sim/1", max_length=64)

    @field_validator("base_address")
    @classmethod
    def _loopback(cls, value: str) -> str:
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError as err:
            raise ValueError(f"{value!r} is not an IPv4 address") from err
        if not address.is_loopback:
            raise ValueError(f"{value} is not a loopback address (127.0.0.0/8)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from schedules import Site  # noqa: PLC0415 - the site checks the zone name

        try:
            Site("check", 0.0, 0.0, value)
        except ScheduleError as err:
            raise ValueError(str(err)) from err
        return value


class FallbackTable(_Table):
    """``[fallback]``: the program a lamp runs by itself when the controller is quiet."""

    after_s: float = Field(default=900.0, gt=0, le=7 * 86_400)
    program: Literal["all-night", "part-night", "midnight-dimming", "none"] = "part-night"
    level: int = Field(default=100, ge=0, le=100)
    dims: list[tuple[str, Annotated[int, Field(ge=0, le=100)]]] = [("23:00", 50), ("05:00", 100)]
    """part-night: ``[time, level]`` steps between sunset and sunrise."""
    dimmed: int = Field(default=50, ge=0, le=100)
    """midnight-dimming: the level of the window centred on solar midnight."""
    window: str = "6h"

    def build(self) -> Program | None:
        """The program (None for ``none``: the lamp holds its last level)."""
        try:
            if self.program == "all-night":
                return all_night("fallback", self.level)
            if self.program == "part-night":
                return part_night("fallback", self.level, list(self.dims))
            if self.program == "midnight-dimming":
                return midnight_dimming("fallback", self.level, self.dimmed, self.window)
        except ScheduleError as err:
            raise ValueError(str(err)) from err
        return None

    @model_validator(mode="after")
    def _builds(self) -> Self:
        self.build()
        return self


class ModelProfile(_Table):
    """``[[models]]``: a lamp model."""

    name: Slug
    kind: Literal["led", "sodium"] = "led"
    wattage: float = Field(gt=0, le=5000)
    min_level: int = Field(default=0, ge=0, le=100)
    """The lowest level the driver dims to (LED about 10, sodium 50)."""
    warmup_s: float = Field(default=0.0, ge=0, le=1800)
    """Time to full output after striking (sodium: minutes; LED: none)."""
    tolerance: float = Field(default=0.02, ge=0, le=0.5)
    """Spread of the power drawn between units of the model (+-)."""
    noise: float = Field(default=0.01, ge=0, le=0.2)
    """Noise of a power reading (+-, a fraction of it)."""


class ZoneProfile(_Table):
    """``[[zones]]``: where the lamps of a zone stand and which models they are."""

    name: Slug
    bbox: tuple[Latitude, Longitude, Latitude, Longitude] | None = None
    """south, west, north, east: lamps are placed at random inside."""
    street: list[tuple[Latitude, Longitude]] | None = None
    """a polyline of ``[latitude, longitude]`` points: lamps are spaced evenly along it."""
    lamps: dict[Slug, Annotated[int, Field(ge=0, le=1_000_000)]]
    """How many lamps of each model (by name)."""
    lamps_per_cabinet: int = Field(default=30, ge=1, le=10_000)
    sleepy: Share = 0.0
    """Share of the zone's lamps in queue mode (they sleep between uplinks)."""

    @model_validator(mode="after")
    def _one_geometry(self) -> Self:
        if (self.bbox is None) == (self.street is None):
            raise ValueError("give either bbox or street")
        if self.bbox is not None:
            south, west, north, east = self.bbox
            if not (south < north and west < east):
                raise ValueError("bbox is south, west, north, east with south < north, west < east")
        if self.street is not None and len(self.street) < 2:
            raise ValueError("a street needs at least two points")
        return self


class Coverage(_Table):
    """``[network.coverage.CLASS]``: one-way latency and loss of a coverage class."""

    latency_s: float = Field(ge=0, le=30)
    loss: float = Field(ge=0, lt=1)
    share: Share = 0.0
    """Share of the generated cells in this class."""


class CellProfile(_Table):
    """``[[network.cells]]``: a base station; each lamp camps on the nearest."""

    name: Name
    latitude: Latitude
    longitude: Longitude
    coverage: CoverageClass = CoverageClass.NORMAL


def _default_coverage() -> dict[CoverageClass, Coverage]:
    return {
        CoverageClass.NORMAL: Coverage(latency_s=0.05, loss=0.0, share=0.8),
        CoverageClass.EXTENDED: Coverage(latency_s=0.3, loss=0.02, share=0.15),
        CoverageClass.EXTREME: Coverage(latency_s=1.0, loss=0.05, share=0.05),
    }


class NetworkTable(_Table):
    """``[network]``: the cells and their radio conditions."""

    lamps_per_cell: int = Field(default=40, ge=1, le=100_000)
    """Lamps per generated cell (when no ``[[network.cells]]`` are given)."""
    coverage: dict[CoverageClass, Coverage] = Field(default_factory=_default_coverage)
    cells: list[CellProfile] = []
    wake_window_s: float = Field(default=10.0, gt=0, le=3600)
    """How long a sleepy lamp listens after each of its uplinks."""
    startup_spread_s: float = Field(default=0.0, ge=0, le=3600)
    """Lamps power up over this long (a city's cabinets do not switch on at the same
    instant), so registrations are spread."""

    @model_validator(mode="after")
    def _classes(self) -> Self:
        missing = [c.value for c in CoverageClass if c not in self.coverage]
        if missing:
            raise ValueError(f"coverage class {missing[0]} is not described")
        if not self.cells and sum(c.share for c in self.coverage.values()) <= 0:
            raise ValueError("generated cells need a coverage share above 0")
        names = [cell.name for cell in self.cells]
        if len(set(names)) != len(names):
            raise ValueError("cell names must be unique")
        return self


class ScheduledFault(_Table):
    """``[[faults.schedule]]``: a fault at ``at_s`` after start, on a lamp, a cabinet, a
    cell, a zone or ``count`` lamps chosen at random; cleared after ``duration_s``."""

    at_s: float = Field(ge=0)
    kind: SimFault
    lamp: Name | None = None
    cabinet: str | None = None
    cell: str | None = None
    zone: Slug | None = None
    count: int | None = Field(default=None, ge=1)
    duration_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        given = [k for k in ("lamp", "cabinet", "cell", "zone", "count") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of lamp, cabinet, cell, zone or count")
        if self.kind is SimFault.CELL_SILENT and given != ["cell"]:
            raise ValueError("cell-silent takes a cell")
        return self


class FaultsTable(_Table):
    """``[faults]``: the share of lamps (cabinets for supply-loss, cells for cell-silent)
    that have each fault from the start, and faults on a schedule."""

    rates: dict[SimFault, Share] = {}
    schedule: list[ScheduledFault] = []


class Profile(_Table):
    """A whole city."""

    city: CityTable = CityTable()
    fallback: FallbackTable = FallbackTable()
    network: NetworkTable = NetworkTable()
    models: list[ModelProfile]
    zones: list[ZoneProfile]
    faults: FaultsTable = FaultsTable()

    @model_validator(mode="after")
    def _references(self) -> Self:
        models = [m.name for m in self.models]
        if len(set(models)) != len(models):
            raise ValueError("model names must be unique")
        zones = [z.name for z in self.zones]
        if len(set(zones)) != len(zones):
            raise ValueError("zone names must be unique")
        for zone in self.zones:
            for model in zone.lamps:
                if model not in models:
                    raise ValueError(f"zones.{zone.name}.lamps: no model named {model!r}")
        if self.lamp_count < 1:
            raise ValueError("the city has no lamps: give some zone a count above 0")
        for number, fault in enumerate(self.faults.schedule, start=1):
            if fault.zone is not None and fault.zone not in zones:
                raise ValueError(f"faults.schedule #{number}: no zone named {fault.zone!r}")
            cells = {c.name for c in self.network.cells}
            if fault.cell is not None and cells and fault.cell not in cells:
                raise ValueError(f"faults.schedule #{number}: no cell named {fault.cell!r}")
        return self

    @property
    def lamp_count(self) -> int:
        return sum(sum(zone.lamps.values()) for zone in self.zones)

    def scaled(self, lamps: int) -> Profile:
        """The same city with ``lamps`` lamps in all, each count scaled in proportion
        (largest remainders, so the total is exact)."""
        if lamps < 1:
            raise ProfileError("a city needs at least one lamp", source="--lamps")
        keys = [(z, m) for z, zone in enumerate(self.zones) for m in zone.lamps]
        counts = [self.zones[z].lamps[m] for z, m in keys]
        total = sum(counts)
        exact = [count * lamps / total for count in counts]
        scaled = [math.floor(x) for x in exact]
        by_remainder = sorted(range(len(keys)), key=lambda i: (-(exact[i] - scaled[i]), i))
        for i in by_remainder[: lamps - sum(scaled)]:
            scaled[i] += 1
        zones = []
        for z, zone in enumerate(self.zones):
            new = {m: scaled[keys.index((z, m))] for m in zone.lamps}
            zones.append(zone.model_copy(update={"lamps": new}))
        return self.model_copy(update={"zones": zones})


def _describe(err: ValidationError) -> tuple[str, str, str]:
    """(table, key, message) of the first error, and every error in the message."""
    messages = []
    first: tuple[str, str] | None = None
    for item in err.errors():
        loc = [str(part) for part in item["loc"]]
        table, key = _where(loc)
        if first is None:
            first = (table, key)
        message = item["msg"].removeprefix("Value error, ")
        place = f"[{table}] {key}" if table else key
        messages.append(f"{place}: {message}" if place else message)
    table, key = first or ("", "")
    return table, key, "; ".join(messages)


def _where(loc: list[str]) -> tuple[str, str]:
    """A pydantic location as a TOML table and key: ``zones #2``, ``bbox``."""
    parts: list[str] = []
    for part in loc:
        if part.isdigit() and parts:
            parts[-1] = f"{parts[-1]} #{int(part) + 1}"
        else:
            parts.append(part)
    if not parts:
        return "", ""
    if loc[-1].isdigit():  # the item of an array of tables as a whole
        return ".".join(parts), ""
    if len(parts) == 1:
        return "", parts[0]
    return ".".join(parts[:-1]), parts[-1]


def parse_profile(data: Mapping[str, Any], source: str) -> Profile:
    """A profile from TOML data; ``ProfileError`` naming ``source``, table and key."""
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        table, key, message = _describe(err)
        raise ProfileError(message, source=source, table=table, key=key) from err


def load_profile(path: Path) -> Profile:
    """Read and validate the profile at ``path``."""
    try:
        text = path.read_text("utf-8")
    except OSError as err:
        raise ProfileError(err.strerror or str(err), source=str(path)) from err
    return _parse_text(text, str(path))


def _parse_text(text: str, source: str) -> Profile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"not TOML: {err}", source=source) from err
    return parse_profile(data, source)


def default_profile() -> Profile:
    """The packaged default city."""
    text = resources.files("simulator").joinpath("profiles", DEFAULT_PROFILE).read_text("utf-8")
    return _parse_text(text, f"<packaged {DEFAULT_PROFILE}>")


# -- writing TOML -------------------------------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {value!r} as TOML")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _emit(prefix: str, table: Mapping[str, Any], out: list[str]) -> None:
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_list(value):
            out.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        if isinstance(value, dict):
            out += ["", f"[{name}]"]
            _emit(name, value, out)
        elif _is_table_list(value):
            for item in value:
                out += ["", f"[[{name}]]"]
                # Tables inside an array of tables are written inline: simpler to read.
                out += [f"{_key(k)} = {_value(v)}" for k, v in item.items()]


def dump_profile(profile: Profile) -> str:
    """The profile as TOML text that ``load_profile`` reads back to the same profile."""
    data = profile.model_dump(mode="json", exclude_none=True)
    out = ["# citylight simulator profile"]
    _emit("", data, out)
    return "\n".join(out).strip() + "\n"
