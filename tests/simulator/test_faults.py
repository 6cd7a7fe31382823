"""Every fault the simulator injects shows in the protocol's own terms: the lamp's fault
events and fault list (codes of ``FaultKind``), or what it measures, from which the
controller's rules infer the kinds a lamp cannot see."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from lighting.config import FaultsConfig
from lighting.controller.rules import Expectation, judge
from lighting.model import Command, FaultEvent, FaultKind, StateReport
from lighting.protocol import decode_fault, decode_report, encode_fault, encode_report
from simulator import Cell, Lamp, LampSpec, SimFault
from simulator.faults import Power, apply_fault

K = FaultKind
SPEC = LampSpec(
    lamp_id="L1",
    zone="centre",
    latitude=36.7,
    longitude=119.1,
    wattage=100,
    address="127.9.0.1",
    port=5683,
)


@dataclasses.dataclass
class Seen:
    """What went on the wire: fault events and reports, through the codecs."""

    lamp: Lamp
    events: list[FaultEvent]
    reports: list[StateReport]
    power: Power | None

    def kinds(self, active: bool = True) -> list[FaultKind]:
        return [event.kind for event in self.events if event.active == active]

    def judged(self, level: int) -> frozenset[FaultKind]:
        """What the controller's rules find in the last report, having sent ``level``."""
        expectation = Expectation(level=level, settled=True, wattage=SPEC.wattage)
        return judge(self.reports[-1], expectation, FaultsConfig()).found


def _inject(kind: SimFault, level: int = 50, *, for_s: float = 600) -> Seen:
    lamp = Lamp(SPEC)
    lamp.apply(Command(1, level), now=0)
    effect = apply_fault(lamp, kind, True, now=100)
    events = list(effect.events)
    reports = []
    for t in range(160, int(100 + for_s) + 1, 60):
        if lamp.powered:
            reports.append(decode_report(encode_report(lamp.report(float(t)))))
        events += lamp.take_events()
    wire = [decode_fault(encode_fault(event)) for event in events]
    return Seen(lamp, wire, reports, effect.power)


def _dark(code: FaultKind) -> Callable[[Seen], None]:
    def check(seen: Seen) -> None:
        assert seen.kinds() == [code]
        assert all(r.power_w == 0 and code in r.faults and r.level == 50 for r in seen.reports)

    return check


def _dimming(seen: Seen) -> None:
    assert seen.kinds() == [K.DIMMING_FAILURE]
    assert {(r.level, r.power_w) for r in seen.reports} == {(50, 100.0)}


def _cycling(seen: Seen) -> None:
    assert seen.kinds() == [K.CYCLING]
    assert {r.power_w for r in seen.reports} == {0.0, 50.0}  # out one minute in five
    assert all(K.CYCLING in r.faults for r in seen.reports)


def _voltage(code: FaultKind, low: float, high: float) -> Callable[[Seen], None]:
    def check(seen: Seen) -> None:
        assert seen.kinds() == [code]
        assert all(low < (r.voltage_v or 0) < high and code in r.faults for r in seen.reports)

    return check


def _overheating(seen: Seen) -> None:
    assert seen.kinds() == [K.THERMAL_DERATING, K.THERMAL_SHUTDOWN]
    derating = [r for r in seen.reports if r.faults == {K.THERMAL_DERATING}]
    assert derating
    assert {r.power_w for r in derating} == {50.0}
    assert any(K.THERMAL_SHUTDOWN in r.faults and r.power_w == 0 for r in seen.reports)


def _inferred(code: FaultKind, level: int) -> Callable[[Seen], None]:
    def check(seen: Seen) -> None:
        assert seen.events == []  # the lamp cannot see it ...
        assert seen.reports[-1].faults == frozenset()
        assert seen.judged(level) == {code}  # ... the controller infers it

    return check


def _supply_loss(seen: Seen) -> None:
    assert seen.power is Power.OFF
    assert seen.kinds() == [K.SUPPLY_LOSS]  # the last gasp
    assert seen.reports == []  # then silence
    lamp = seen.lamp
    effect = apply_fault(lamp, SimFault.SUPPLY_LOSS, False, now=2000)
    assert effect.power is Power.ON
    registration = lamp.registration()
    assert registration.seq == 1  # a power-up: the sequence starts again
    assert K.SUPPLY_LOSS not in lamp.report(2060).faults


def _reboot(seen: Seen) -> None:
    assert (seen.power, seen.events) == (Power.ON, [])
    assert seen.lamp.last_command_id is None
    assert {r.level for r in seen.reports} == {0}  # it lost its level
    assert seen.reports[0].seq == 1


CHECKS: dict[SimFault, tuple[int, float, Callable[[Seen], None]]] = {
    SimFault.LAMP_FAILURE: (50, 600, _dark(K.LAMP_FAILURE)),
    SimFault.DRIVER_FAILURE: (50, 600, _dark(K.DRIVER_FAILURE)),
    SimFault.RELAY_FAILURE: (50, 600, _dark(K.RELAY_FAILURE)),
    SimFault.DIMMING_FAILURE: (50, 600, _dimming),
    SimFault.CYCLING: (50, 900, _cycling),
    SimFault.VOLTAGE_HIGH: (50, 600, _voltage(K.VOLTAGE_HIGH, 253, 270)),
    SimFault.VOLTAGE_LOW: (50, 600, _voltage(K.VOLTAGE_LOW, 180, 207)),
    SimFault.OVERHEATING: (100, 4 * 3600, _overheating),
    SimFault.POWER_HIGH: (50, 600, _inferred(K.POWER_HIGH, 50)),
    SimFault.POWER_LOW: (50, 600, _inferred(K.POWER_LOW, 50)),
    SimFault.DAY_BURNER: (0, 600, _inferred(K.DAY_BURNER, 0)),
    SimFault.SUPPLY_LOSS: (50, 600, _supply_loss),
    SimFault.REBOOT: (50, 600, _reboot),
}


@pytest.mark.parametrize("kind", sorted(CHECKS), ids=str)
def test_each_fault_is_reported_in_the_protocols_terms(kind: SimFault) -> None:
    level, for_s, check = CHECKS[kind]
    check(_inject(kind, level, for_s=for_s))


def test_every_kind_but_the_cells_is_checked() -> None:
    assert set(CHECKS) == set(SimFault) - {SimFault.CELL_SILENT}


@pytest.mark.parametrize(
    "kind", sorted(set(CHECKS) - {SimFault.REBOOT, SimFault.SUPPLY_LOSS}), ids=str
)
def test_a_cleared_fault_leaves_the_lamp_as_it_was(kind: SimFault) -> None:
    # (A reboot and a supply that comes back restart the node: see their checks above.)
    lamp = Lamp(SPEC)
    lamp.apply(Command(1, 50), now=0)
    apply_fault(lamp, kind, True, now=100)
    lamp.advance(400)
    apply_fault(lamp, kind, False, now=400)
    lamp.take_events()
    report = lamp.report(3 * 3600)  # long enough for a hot lantern to cool
    assert (report.power_w, report.voltage_v, report.faults) == (50.0, 230.0, frozenset())


def test_a_silent_cell_drops_everything_both_ways() -> None:
    cell = Cell("cell-0001")
    assert not cell.lost()
    cell.silent = True
    assert all(cell.lost() for _ in range(100))
    assert (cell.delivered, cell.dropped) == (1, 100)


def test_apply_refuses_a_cell_fault_on_a_lamp() -> None:
    with pytest.raises(ValueError, match="fault of a cell"):
        apply_fault(Lamp(SPEC), SimFault.CELL_SILENT, True, now=0)
