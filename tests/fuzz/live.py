"""What the live fuzz tests (CoAP and MQTT) share: a genuine report, the reports stored,
and the payload that once overflowed the codec."""

from __future__ import annotations

from collections.abc import Iterable

import cbor2

from lighting.controller import Controller
from lighting.model import StateReport
from lighting.protocol import encode_report

HUGE = 2**1100
"""An integer past the float range."""
HUGE_POWER = cbor2.dumps({0: "L1", 1: 9, 2: 0, 4: HUGE, 5: 0, 6: 0})
"""A report whose power is ``HUGE``: it once escaped the codec as OverflowError."""


def report(lamp_id: str, seq: int) -> bytes:
    """A genuine report of ``lamp_id`` numbered ``seq``."""
    return encode_report(
        StateReport(lamp_id=lamp_id, seq=seq, level=40, power_w=36, energy_wh=seq, burning_s=seq)
    )


async def stored(controller: Controller, lamps: Iterable[str]) -> dict[str, set[int]]:
    """The sequence numbers stored for each of ``lamps``."""
    found = {}
    for lamp in lamps:
        reports = await controller.store.call(controller.repository.reports, lamp, limit=10_000)
        found[lamp] = {stored_report.seq for stored_report in reports}
    return found
