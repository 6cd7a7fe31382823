"""The control channel's JSON lines under fuzzing (``lighting.protocol.control``).

``decode`` takes any line (random bytes, mutated requests, not UTF-8, UTF-16, nested 100,000
deep, integers of 5,000 digits, NaN, lone surrogates, over-long) and returns a JSON object
or raises ``ProtocolError``; what decodes encodes to one line of UTF-8 that decodes to the
same. ``from_plain`` (how a view reads the daemon's values) takes any JSON value, or a
value of the daemon's with fields broken, and returns the value or raises
``ProtocolError``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lighting.errors import ProtocolError
from lighting.notices import FaultNotice, IncidentNotice, LampNotice
from lighting.overview import CityView, EnergyNight, LampView
from lighting.protocol.control import MAX_LINE, decode, encode, from_plain, to_plain
from tests.fuzz.strategies import budget, control_lines, json_values, outcome

EXAMPLES = 300

# A failing example with a long line (or payload) is shown shortened, not refused.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning"
)


@given(control_lines | st.just(b" " * (MAX_LINE + 1)))
@budget(EXAMPLES)
# Bugs: a deep nesting escaped as RecursionError, a long integer as ValueError.
@example(b"[" * 100_000 + b"]" * 100_000)
@example(b'{"id":' + b"9" * 5000 + b"}")
# Bug: a lone surrogate decoded, then its answer could not be encoded (UnicodeEncodeError).
@example(b'{"id":"\\ud800","op":"lamp","lamp":"\\udc00"}')
def test_a_line_decodes_to_an_object_or_is_refused(line: bytes) -> None:
    message = outcome(decode, line)
    if isinstance(message, ProtocolError):
        assert message.reason
        return
    assert isinstance(message, dict)
    again = encode(message)
    assert again.endswith(b"\n")
    assert b"\n" not in again[:-1]
    again.decode("utf-8")  # strict: every line the daemon writes is UTF-8
    assert encode(decode(again)) == again


plain_values = st.one_of(
    st.from_type(LampNotice),
    st.from_type(FaultNotice),
    st.from_type(IncidentNotice),
    st.from_type(EnergyNight),
    st.from_type(LampView),
    st.from_type(CityView),
).map(to_plain)


@st.composite
def broken_plain(draw: st.DrawFn) -> Any:
    """A value of the daemon's in its JSON form, with a few fields replaced or dropped."""
    plain: dict[str, Any] = json.loads(json.dumps(draw(plain_values)))
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(plain)))
        if draw(st.booleans()):
            del plain[name]
        else:
            plain[name] = draw(json_values | st.just({"type": "LampNotice"}))
    return plain


@given(st.one_of(json_values, broken_plain(), plain_values))
@budget(EXAMPLES)
# Bug: a type tag that is an object or an array escaped as TypeError (unhashable).
@example({"type": {"type": "LampNotice"}})
@example({"type": ["LampNotice"]})
def test_a_value_is_read_or_refused(data: Any) -> None:
    value = outcome(from_plain, data)
    if isinstance(value, ProtocolError):
        assert value.reason
        return
    plain = to_plain(value)
    assert encode(to_plain(from_plain(plain))) == encode(plain)
