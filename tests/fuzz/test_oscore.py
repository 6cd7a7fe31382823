"""OSCORE under random and mutated input: whatever arrives, opening it either succeeds
(only for the genuine message) or raises ``OscoreError`` with a CoAP code, and the replay
window of the receiver is not moved by anything that did not authenticate."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lighting.protocol import coapwire as coap
from lighting.protocol.coapwire import Option
from lighting.protocol.oscore import (
    OscoreError,
    ReplayWindow,
    SecurityContext,
    parse_option,
)

SECRET = bytes(range(16))


def _pair() -> tuple[SecurityContext, SecurityContext]:
    lamp = SecurityContext(b"\x05", b"", SECRET, b"salt")
    controller = SecurityContext(b"", b"\x05", SECRET, b"salt", window=ReplayWindow())
    return lamp, controller


@given(st.binary(max_size=40))
def test_any_option_value_parses_or_is_refused_402(value: bytes) -> None:
    code = "parsed"
    try:
        parse_option(value)
    except OscoreError as err:
        code = err.code
    assert code in ("parsed", "4.02")


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=12),
    st.binary(max_size=200),
    st.integers(min_value=0, max_value=200),
    st.integers(min_value=0, max_value=255),
)
def test_mutated_messages_never_open(option: bytes, payload: bytes, at: int, flip: int) -> None:
    lamp, controller = _pair()
    sealed = lamp.protect_request(coap.POST, ((Option.URI_PATH, b"report"),), b"\xa1\x01\x02")
    genuine_option = sealed.options[-1][1]
    for candidate_option, candidate_payload in (
        (option, payload),
        (genuine_option, payload),
        (option, sealed.payload),
        (
            genuine_option,
            bytes(
                b ^ flip if i == at % len(sealed.payload) else b
                for i, b in enumerate(sealed.payload)
            ),
        ),
    ):
        if (candidate_option, candidate_payload) == (genuine_option, sealed.payload):
            continue
        code = "opened"  # only the genuine message may open
        try:
            controller.unprotect_request(((Option.OSCORE, candidate_option),), candidate_payload)
        except OscoreError as err:
            code = err.code
        assert code in ("4.00", "4.01", "4.02"), code
    assert controller.window is not None
    assert controller.window.seen == 0, "nothing that failed moved the replay window"
    opened = controller.unprotect_request(sealed.options, sealed.payload)
    assert opened.payload == b"\xa1\x01\x02"
