"""The fleet benchmark on a handful of lamps: it counts what it says (no timing asserted)."""

from __future__ import annotations

import pytest

from bench import fleet
from lighting.demo import free_udp_port

ANY = "0.0.0.0"


@pytest.mark.parametrize("mode", ["shared", "per-lamp"])
def test_every_lamp_registers_and_every_awake_lamp_answers(
    mode: fleet.Mode, lamp_base: str
) -> None:
    row = fleet.measure(40, mode, base=lamp_base, port=free_udp_port(ANY), timeout_s=30)
    assert (row["registered"], row["sources"]) == (40, 40)  # each from its own address
    assert row["registered_s"] is not None
    assert row["probed"] + row["asleep"] == 40
    assert row["answered"] == row["probed"]
    assert row["wrong_source"] == 0
    # The process's growth over 40 lamps: in a process whose memory is already taken (the
    # whole suite in one run) it may be nothing, so only its presence is checked.
    assert row["rss_mib"] > 0
    assert isinstance(row["kib_per_lamp"], float | int)
    if mode == "shared":
        assert row["open_fds"] < 40  # one socket for the fleet
    else:
        assert row["open_fds"] > 40


def test_one_aiocoap_context_per_lamp_answers_from_each_address(lamp_base: str) -> None:
    row = fleet.measure(5, "aiocoap-udp", base=lamp_base, port=free_udp_port(ANY), timeout_s=30)
    assert (row["probed"], row["answered"], row["wrong_source"]) == (5, 5, 0)
    assert row["open_fds"] >= 5
    assert row["registered_s"] is None  # contexts alone: no lamp state, no registration


def test_lamps_register_with_the_real_controller(lamp_base: str) -> None:
    row = fleet.measure(
        12, base=lamp_base, port=free_udp_port(ANY), controller="real", timeout_s=30
    )
    assert row["registered"] == 12
    assert row["controller_known"] == 12
    assert row["sources"] == 0  # the stub only probed


def test_a_probe_counts_silence_as_unanswered(lamp_base: str) -> None:
    with fleet.stub_controller() as stub:
        run = fleet.Run(3, base=lamp_base, port=free_udp_port(ANY), timeout_s=0.3)
        result = stub.probe(run, skip=[1])
    assert (result["probed"], result["answered"], result["unanswered"]) == (2, 0, 2)
