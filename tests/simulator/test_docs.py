"""docs/simulator.md says what the simulator does: its example profile builds, and its
fault table has every kind the simulator can inject."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from simulator import SimFault, build_city
from simulator.profile import parse_profile

DOC = (Path(__file__).parent.parent.parent / "docs" / "simulator.md").read_text("utf-8")


def test_the_example_profile_builds_the_city_it_describes() -> None:
    example = re.search(r"```toml\n(.*?)```", DOC, re.DOTALL)
    assert example is not None
    city = build_city(parse_profile(tomllib.loads(example.group(1)), "docs/simulator.md"))
    assert len(city.specs) == 400
    assert {spec.zone for spec in city.specs} == {"quay", "old-town"}
    assert {fault.target for fault in city.faults} >= {"cabinet quay-c03", "cell cell-0002"}


def test_the_fault_table_names_every_kind() -> None:
    table = DOC.split("## Faults")[1].split("Five ways")[0]
    named = set(re.findall(r"`([a-z-]+)`", table))
    assert named == {kind.value for kind in SimFault}
