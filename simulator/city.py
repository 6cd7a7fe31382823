"""A city built from a profile: its lamps, cells, cabinets and planned faults (pure).

``build_city(profile, seed=7)`` places each zone's lamps (at random in its bounding box, or
evenly along its street), mixes the models, groups neighbours into cabinets (a supply
loss takes a whole cabinet), gives each lamp a cell (the nearest of the profile's cells,
or generated cells of ``lamps_per_cell`` neighbours with a coverage class drawn by share),
a loopback address, its unit's power spread, its feeder's voltage and its own fallback
program, and turns the profile's fault rates and schedule into ``PlannedFault``s. The same
profile and seed always give the same city.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from lighting.protocol.inventory import InventoryLamp
from schedules import Site
from simulator.errors import FleetError
from simulator.fallback import Fallback, site_for
from simulator.faults import SimFault
from simulator.fleet import loopback_addresses
from simulator.lamp import LampKind, LampSpec
from simulator.network import Cell
from simulator.profile import CoverageClass, Profile, ScheduledFault

FEEDER_DROP_V = 0.15
"""Voltage drop from one lamp to the next along a cabinet's feeder."""
CABINET_SPREAD_V = 3.0
"""How far a cabinet's supply sits from nominal (+-)."""


@dataclass(frozen=True, slots=True)
class CellSpec:
    """A base station of the city: its coverage class and what that means on the air."""

    cell_id: str
    coverage: CoverageClass
    latency_s: float
    loss: float


@dataclass(frozen=True, slots=True)
class PlannedFault:
    """A fault ``at_s`` seconds after start on ``lamps`` (or on ``cell``), cleared after
    ``duration_s`` (None: it stays)."""

    at_s: float
    kind: SimFault
    lamps: tuple[str, ...] = ()
    cell: str = ""
    duration_s: float | None = None
    target: str = ""
    """What the fault was aimed at, for the log: ``cabinet centre-c03``."""


@dataclass(frozen=True, slots=True)
class City:
    """Everything the simulator needs to run a city."""

    name: str
    timezone: str
    seed: int
    specs: tuple[LampSpec, ...]
    cells: tuple[CellSpec, ...]
    faults: tuple[PlannedFault, ...] = ()
    startup_spread_s: float = 0.0

    def make_cells(self) -> dict[str, Cell]:
        """Fresh ``Cell`` objects (their own random streams, from the city's seed)."""
        rng = random.Random(self.seed ^ 0xCE11)
        return {
            cell.cell_id: Cell(
                cell.cell_id,
                latency_s=cell.latency_s,
                loss=cell.loss,
                rng=random.Random(rng.getrandbits(64)),
                coverage=cell.coverage.value,
            )
            for cell in self.cells
        }

    def cabinets(self) -> dict[str, list[str]]:
        """Each cabinet's lamps."""
        found: dict[str, list[str]] = {}
        for spec in self.specs:
            found.setdefault(spec.cabinet, []).append(spec.lamp_id)
        return found

    def inventory(self) -> list[InventoryLamp]:
        """The city's lamps as an inventory for the controller (``lighting import``)."""
        return [
            InventoryLamp(
                lamp_id=spec.lamp_id,
                zone=spec.zone,
                latitude=spec.latitude,
                longitude=spec.longitude,
                wattage=spec.wattage,
                model=spec.model,
                kind=spec.kind.value,
                cell=spec.cell,
                cabinet=spec.cabinet,
                address=spec.address,
                port=spec.port,
                report_period_s=spec.report_period_s,
                queue_mode=spec.sleepy,
                firmware=spec.firmware,
            )
            for spec in self.specs
        ]


def _in_box(
    bbox: tuple[float, float, float, float], per_cabinet: int, count: int, rng: random.Random
) -> list[tuple[float, float]]:
    """``count`` points at random in ``bbox``, in a serpentine order over bands, so that
    consecutive lamps (a cabinet, a generated cell) are neighbours."""
    south, west, north, east = bbox
    points = [(rng.uniform(south, north), rng.uniform(west, east)) for _ in range(count)]
    bands = max(1, round(math.sqrt(count / per_cabinet)))

    def order(point: tuple[float, float]) -> tuple[int, float]:
        band = min(int((point[0] - south) / (north - south) * bands), bands - 1)
        return band, point[1] if band % 2 == 0 else -point[1]

    return sorted(points, key=order)


def _along(street: Sequence[tuple[float, float]], count: int) -> list[tuple[float, float]]:
    """``count`` points evenly spaced along a polyline (each in the middle of its span)."""
    lengths = [
        math.hypot(b[0] - a[0], (b[1] - a[1]) * math.cos(math.radians(a[0])))
        for a, b in itertools.pairwise(street)
    ]
    total = sum(lengths)
    points = []
    segment, start = 0, 0.0
    for i in range(count):
        at = (i + 0.5) * total / count
        while segment < len(lengths) - 1 and start + lengths[segment] < at:
            start += lengths[segment]
            segment += 1
        share = (at - start) / lengths[segment] if lengths[segment] else 0.0
        (lat0, lon0), (lat1, lon1) = street[segment], street[segment + 1]
        points.append((lat0 + (lat1 - lat0) * share, lon0 + (lon1 - lon0) * share))
    return points


def _nearest(cells: Sequence[tuple[str, float, float]], lat: float, lon: float) -> str:
    scale = math.cos(math.radians(lat))
    return min(cells, key=lambda c: (c[1] - lat) ** 2 + ((c[2] - lon) * scale) ** 2)[0]


def build_city(profile: Profile, *, seed: int | None = None, lamps: int | None = None) -> City:
    """The city of ``profile`` (scaled to ``lamps`` in all when given), seeded by ``seed``
    (the profile's own seed when None)."""
    if lamps is not None:
        profile = profile.scaled(lamps)
    city = profile.city
    seed = city.seed if seed is None else seed
    rng = random.Random(seed)
    models = {model.name: model for model in profile.models}
    program = profile.fallback.build()
    fallbacks: dict[Site, Fallback] = {}
    addresses = iter(loopback_addresses(city.base_address, profile.lamp_count))
    given_cells = [(c.name, c.latitude, c.longitude) for c in profile.network.cells]
    coverage = profile.network.coverage
    classes = list(coverage)
    shares = [coverage[c].share for c in classes]

    specs: list[LampSpec] = []
    cells: dict[str, CellSpec] = {
        c.name: CellSpec(
            c.name, c.coverage, coverage[c.coverage].latency_s, coverage[c.coverage].loss
        )
        for c in profile.network.cells
    }
    generated = 0
    for zone in profile.zones:
        names = [name for name, count in zone.lamps.items() for _ in range(count)]
        rng.shuffle(names)
        if zone.bbox is not None:
            points = _in_box(zone.bbox, zone.lamps_per_cabinet, len(names), rng)
        else:
            points = _along(zone.street or [], len(names))
        offset = 0.0
        for i, (name, (lat, lon)) in enumerate(zip(names, points, strict=True)):
            position = i % zone.lamps_per_cabinet
            if position == 0:
                offset = rng.uniform(-CABINET_SPREAD_V, CABINET_SPREAD_V)
            if given_cells:
                cell = _nearest(given_cells, lat, lon)
            else:
                if generated % profile.network.lamps_per_cell == 0:
                    number = generated // profile.network.lamps_per_cell + 1
                    chosen = rng.choices(classes, shares)[0]
                    cell_id = f"cell-{number:04d}"
                    cells[cell_id] = CellSpec(
                        cell_id, chosen, coverage[chosen].latency_s, coverage[chosen].loss
                    )
                cell = f"cell-{generated // profile.network.lamps_per_cell + 1:04d}"
                generated += 1
            model = models[name]
            fallback = None
            if program is not None:
                site = site_for(lat, lon, city.timezone)
                fallback = fallbacks.setdefault(
                    site, Fallback(site, program, after_s=profile.fallback.after_s)
                )
            specs.append(
                LampSpec(
                    lamp_id=f"{city.id_prefix}{len(specs) + 1:05d}",
                    zone=zone.name,
                    latitude=round(lat, 6),
                    longitude=round(lon, 6),
                    wattage=model.wattage,
                    address=next(addresses),
                    port=city.port,
                    cell=cell,
                    report_period_s=city.report_period_s,
                    firmware=city.firmware,
                    sleepy=rng.random() < zone.sleepy,
                    wake_window_s=profile.network.wake_window_s,
                    kind=LampKind(model.kind),
                    model=model.name,
                    min_level=model.min_level,
                    warmup_s=model.warmup_s,
                    cabinet=f"{zone.name}-c{i // zone.lamps_per_cabinet + 1:02d}",
                    power_noise=model.noise,
                    efficiency=round(1 + model.tolerance * rng.uniform(-1, 1), 4),
                    voltage_offset_v=round(offset - FEEDER_DROP_V * position, 2),
                    noise_seed=rng.getrandbits(32),
                    fallback=fallback,
                )
            )
    built = City(
        name=city.name,
        timezone=city.timezone,
        seed=seed,
        specs=tuple(specs),
        cells=tuple(cells.values()),
        startup_spread_s=profile.network.startup_spread_s,
    )
    return dataclasses.replace(built, faults=_faults(profile, built, rng))


def _faults(profile: Profile, city: City, rng: random.Random) -> tuple[PlannedFault, ...]:
    """The faults of the profile: by rate at start, then on the schedule."""
    lamp_ids = [spec.lamp_id for spec in city.specs]
    cabinets = city.cabinets()
    cell_ids = sorted(cell.cell_id for cell in city.cells)
    faults: list[PlannedFault] = []
    for kind, rate in profile.faults.rates.items():
        if kind is SimFault.CELL_SILENT:
            chosen = sorted(rng.sample(cell_ids, round(rate * len(cell_ids))))
            faults += [PlannedFault(0.0, kind, cell=c, target=f"cell {c}") for c in chosen]
        elif kind is SimFault.SUPPLY_LOSS:
            names = sorted(rng.sample(sorted(cabinets), round(rate * len(cabinets))))
            faults += [
                PlannedFault(0.0, kind, tuple(cabinets[c]), target=f"cabinet {c}") for c in names
            ]
        else:
            chosen = sorted(rng.sample(lamp_ids, round(rate * len(lamp_ids))))
            faults += [PlannedFault(0.0, kind, (lamp,), target=f"lamp {lamp}") for lamp in chosen]
    for number, planned in enumerate(profile.faults.schedule, start=1):
        faults.append(_scheduled(planned, f"faults.schedule #{number}", city, rng))
    return tuple(faults)


def _scheduled(planned: ScheduledFault, where: str, city: City, rng: random.Random) -> PlannedFault:
    """One fault of the schedule, aimed at the lamps (or the cell) it names."""
    cell = ""
    lamps: tuple[str, ...]
    if planned.lamp is not None:
        if planned.lamp not in {spec.lamp_id for spec in city.specs}:
            raise FleetError(f"{where}: no lamp {planned.lamp!r} in this city")
        lamps, target = (planned.lamp,), f"lamp {planned.lamp}"
    elif planned.cabinet is not None:
        cabinets = city.cabinets()
        if planned.cabinet not in cabinets:
            raise FleetError(f"{where}: no cabinet {planned.cabinet!r} in this city")
        lamps, target = tuple(cabinets[planned.cabinet]), f"cabinet {planned.cabinet}"
    elif planned.cell is not None:
        if planned.cell not in {c.cell_id for c in city.cells}:
            raise FleetError(f"{where}: no cell {planned.cell!r} in this city")
        cell, target, lamps = planned.cell, f"cell {planned.cell}", ()
        if planned.kind is not SimFault.CELL_SILENT:
            lamps = tuple(s.lamp_id for s in city.specs if s.cell == planned.cell)
    elif planned.zone is not None:
        lamps = tuple(s.lamp_id for s in city.specs if s.zone == planned.zone)
        target = f"zone {planned.zone}"
    else:
        count = min(planned.count or 1, len(city.specs))
        chosen = rng.sample([spec.lamp_id for spec in city.specs], count)
        lamps, target = tuple(sorted(chosen)), f"{count} lamps"
    return PlannedFault(planned.at_s, planned.kind, lamps, cell, planned.duration_s, target)
