"""Building a fleet of lamp specifications: deterministic for a given seed.

Lamps are spread over their zones around a centre point, each on its own loopback address
(counting up from a base such as ``127.1.0.1``) on the same CoAP port, and each in an
NB-IoT cell. The same arguments and seed always give the same fleet.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections.abc import Sequence

from simulator.errors import FleetError
from simulator.lamp import LampSpec

DEFAULT_ZONES = ("centre", "north", "harbour")
DEFAULT_WATTAGES = (60.0, 90.0, 120.0, 150.0)
LAMPS_PER_CELL = 40
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def loopback_addresses(base: str, count: int) -> list[str]:
    """``count`` consecutive addresses from ``base``, all inside 127.0.0.0/8."""
    try:
        first = ipaddress.IPv4Address(base)
    except ValueError as err:
        raise FleetError(f"base address {base!r} is not an IPv4 address") from err
    if first not in _LOOPBACK:
        raise FleetError(f"base address {base} is not a loopback address (127.0.0.0/8)")
    last = int(first) + count - 1
    if last >= int(_LOOPBACK.broadcast_address):
        raise FleetError(f"{count} lamps from {base} run past the loopback range")
    return [str(ipaddress.IPv4Address(int(first) + i)) for i in range(count)]


def build_fleet(
    count: int,
    *,
    seed: int = 7,
    zones: Sequence[str] = DEFAULT_ZONES,
    centre: tuple[float, float] = (36.71, 119.16),
    radius_km: float = 5.0,
    base_address: str = "127.1.0.1",
    port: int = 5683,
    report_period_s: int = 60,
    id_prefix: str = "L",
) -> list[LampSpec]:
    """``count`` lamps spread evenly over ``zones`` (round robin), positions at random."""
    if count < 1:
        raise FleetError(f"a fleet needs at least one lamp, got {count}")
    if not zones:
        raise FleetError("a fleet needs at least one zone")
    rng = random.Random(seed)
    addresses = loopback_addresses(base_address, count)
    lat0, lon0 = centre
    km_per_deg_lon = 111.32 * math.cos(math.radians(lat0))
    specs = []
    for i, address in enumerate(addresses):
        zone = zones[i % len(zones)]
        distance = radius_km * math.sqrt(rng.random())
        bearing = rng.uniform(0, 2 * math.pi)
        specs.append(
            LampSpec(
                lamp_id=f"{id_prefix}{i + 1:05d}",
                zone=zone,
                latitude=round(lat0 + distance * math.cos(bearing) / 110.57, 6),
                longitude=round(lon0 + distance * math.sin(bearing) / km_per_deg_lon, 6),
                wattage=rng.choice(DEFAULT_WATTAGES),
                address=address,
                port=port,
                cell=f"cell-{i // LAMPS_PER_CELL + 1:04d}",
                report_period_s=report_period_s,
            )
        )
    return specs
