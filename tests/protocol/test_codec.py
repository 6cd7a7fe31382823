"""Protocol v1 codecs: round trips, recorded payloads, and refusals with the right code."""

from __future__ import annotations

import contextlib

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lighting.errors import ProtocolError
from lighting.model import Ack, Command, FaultEvent, FaultKind, Registration, StateReport
from lighting.protocol import (
    MAX_PAYLOAD,
    decode_ack,
    decode_command,
    decode_fault,
    decode_registration,
    decode_report,
    encode_ack,
    encode_command,
    encode_fault,
    encode_registration,
    encode_report,
)

# A command {3: 42, 2: 60} as a lamp receives it on the wire (recorded from encode_command
# and checked by hand against RFC 8949: a2 = map(2), 03 18 2a = 3: 42, 02 18 3c = 2: 60).
RECORDED_COMMAND = bytes.fromhex("a203182a02183c")


def test_command_matches_the_recorded_payload() -> None:
    assert encode_command(Command(command_id=42, level=60)) == RECORDED_COMMAND
    assert decode_command(RECORDED_COMMAND) == Command(command_id=42, level=60)


@given(st.integers(0, 2**63 - 1), st.integers(0, 100), st.integers(0, 3600))
def test_command_round_trips(command_id: int, level: int, ramp: int) -> None:
    command = Command(command_id=command_id, level=level, ramp_s=ramp)
    assert decode_command(encode_command(command)) == command


def test_ack_round_trips() -> None:
    ack = Ack(command_id=7, level=30)
    assert decode_ack(encode_ack(ack)) == ack


def test_registration_round_trips() -> None:
    reg = Registration(
        lamp_id="L00001",
        seq=1,
        zone="centre",
        latitude=36.71,
        longitude=119.16,
        wattage=90.0,
        cell="cell-0001",
        firmware="fw/1",
        report_period_s=30,
    )
    assert decode_registration(encode_registration(reg)) == reg


@given(
    st.integers(0, 100),
    st.floats(0, 10_000, allow_nan=False),
    st.sets(st.sampled_from([kind for kind in FaultKind if not kind.inferred])),
)
def test_report_round_trips(level: int, power: float, faults: set[FaultKind]) -> None:
    report = StateReport(
        lamp_id="L1",
        seq=9,
        level=level,
        power_w=power,
        energy_wh=12.5,
        burning_s=3600,
        voltage_v=229.5,
        last_command_id=3,
        faults=frozenset(faults),
    )
    assert decode_report(encode_report(report)) == report


def test_fault_round_trips() -> None:
    event = FaultEvent(lamp_id="L1", seq=4, kind=FaultKind.LAMP_FAILURE, active=True)
    assert decode_fault(encode_fault(event)) == event


def test_unknown_keys_are_ignored() -> None:
    payload = cbor2.dumps({3: 5, 2: 40, 99: "from a newer controller"})
    assert decode_command(payload) == Command(command_id=5, level=40)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (cbor2.dumps({3: 1, 2: 250}), "out of range"),
        (cbor2.dumps({3: 1, 2: -1}), "out of range"),
        (cbor2.dumps({3: 1}), "missing level"),
        (cbor2.dumps({3: 1, 2: "60"}), "must be int"),
        (cbor2.dumps({3: 1, 2: True}), "boolean"),
        (cbor2.dumps({3: -5, 2: 10}), "unsigned"),
        (cbor2.dumps([3, 1, 2, 10]), "must be a CBOR map"),
        (b"\xa2\x03\x01\x03\x02", "not valid CBOR"),  # duplicate key 3
        (b"\xa2\x03", "not valid CBOR"),  # truncated
        (b"not cbor at all \xff", "not valid CBOR"),  # a text item, then trailing bytes
        (cbor2.dumps({3: 1, 2: 10}) + b"\x00", "1 bytes after the map"),
        (b"", "empty payload"),
        (cbor2.dumps({3: 1, 2: 10, 7: [[[[[[1]]]]]]}), "not valid CBOR"),  # nested too deep
    ],
)
def test_bad_commands_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason) as caught:
        decode_command(payload)
    assert caught.value.code == "4.00"


def test_oversized_payload_is_refused_with_413() -> None:
    payload = cbor2.dumps({3: 1, 2: 10, 99: "x" * MAX_PAYLOAD})
    with pytest.raises(ProtocolError) as caught:
        decode_command(payload)
    assert caught.value.code == "4.13"


def test_report_with_unknown_fault_code_is_refused() -> None:
    payload = cbor2.dumps({0: "L1", 1: 1, 2: 0, 4: 0, 5: 0, 6: 0, 7: [999]})
    with pytest.raises(ProtocolError, match="unknown fault code 999"):
        decode_report(payload)


@pytest.mark.parametrize("kind", [kind for kind in FaultKind if kind.inferred])
def test_a_lamp_cannot_report_what_only_the_controller_infers(kind: FaultKind) -> None:
    report = cbor2.dumps({0: "L1", 1: 1, 2: 0, 4: 0, 5: 0, 6: 0, 7: [int(kind)]})
    with pytest.raises(ProtocolError, match="inferred by the controller"):
        decode_report(report)
    with pytest.raises(ProtocolError, match="inferred by the controller"):
        decode_fault(cbor2.dumps({0: "L1", 1: 1, 14: int(kind), 15: True}))


def test_registration_with_bad_lamp_id_is_refused() -> None:
    payload = cbor2.dumps({0: "bad id with spaces", 1: 1, 8: "centre", 9: 0, 10: 0, 11: 10})
    with pytest.raises(ProtocolError, match="lamp id"):
        decode_registration(payload)


@given(st.binary(max_size=64))
def test_random_bytes_never_escape_as_anything_but_protocol_error(data: bytes) -> None:
    for decode in (decode_command, decode_report, decode_registration, decode_fault, decode_ack):
        with contextlib.suppress(ProtocolError):
            decode(data)
