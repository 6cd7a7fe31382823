"""The MQTT topic layout: round trips, refusals, and the controller never hearing itself.

Matching is checked with aiomqtt's own ``Topic.matches`` (MQTT's rules for ``+`` and ``#``),
so the layout is tested against what a broker does, not against our reading of it.
"""

from __future__ import annotations

import aiomqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lighting.errors import ProtocolError
from lighting.protocol import Topics, Uplink, UplinkKind, check_root

zones = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,63}\Z")
lamp_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")
roots = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,31}\Z")
kinds = st.sampled_from(UplinkKind)


def test_the_layout_under_the_default_root() -> None:
    topics = Topics()
    assert (
        topics.uplink("centre", "L00001", UplinkKind.REPORT) == "citylight/up/centre/L00001/report"
    )
    assert topics.uplink("centre", "L00001", UplinkKind.FAULT) == "citylight/up/centre/L00001/fault"
    assert topics.uplinks == "citylight/up/#"
    assert topics.lamp("centre", "L00001") == "citylight/lamp/centre/L00001"
    assert topics.fault("centre", "L00001") == "citylight/event/fault/centre/L00001"
    assert topics.incident == "citylight/event/incident"
    assert topics.lamps == "citylight/lamp/#"
    assert topics.events == "citylight/event/#"


@given(roots, zones, lamp_ids, kinds)
def test_an_uplink_topic_round_trips(root: str, zone: str, lamp_id: str, kind: UplinkKind) -> None:
    topics = Topics(root)
    topic = topics.uplink(zone, lamp_id, kind)
    assert topics.parse_uplink(topic) == Uplink(root, zone, lamp_id, kind)
    assert aiomqtt.Topic(topic).matches(topics.uplinks)


@given(roots, zones, lamp_ids)
def test_the_controller_never_consumes_what_it_publishes(
    root: str, zone: str, lamp_id: str
) -> None:
    topics = Topics(root)
    for published in (topics.lamp(zone, lamp_id), topics.fault(zone, lamp_id), topics.incident):
        assert not aiomqtt.Topic(published).matches(topics.uplinks)
        with pytest.raises(ProtocolError):
            topics.parse_uplink(published)
    assert aiomqtt.Topic(topics.lamp(zone, lamp_id)).matches(topics.lamps)
    assert aiomqtt.Topic(topics.fault(zone, lamp_id)).matches(topics.events)
    assert aiomqtt.Topic(topics.incident).matches(topics.events)


@given(st.text(max_size=120))
def test_any_topic_parses_to_itself_or_is_refused(topic: str) -> None:
    topics = Topics()
    try:
        uplink = topics.parse_uplink(topic)
    except ProtocolError:
        return
    assert uplink.topic == topic


@pytest.mark.parametrize(
    "topic",
    [
        "citylight/up/centre/L1",  # no kind
        "citylight/up/centre/L1/report/extra",
        "citylight/up/centre/L1/weather",
        "citylight/up/Centre/L1/report",  # zones are lower case
        "citylight/up/centre//report",
        "citylight/up/centre/-L1/report",  # a lamp id starts with a letter or digit
        "other/up/centre/L1/report",
        "citylight/lamp/centre/L1",
        "citylight/up/centre/L1/report ",
        "",
    ],
)
def test_a_topic_outside_the_layout_is_refused(topic: str) -> None:
    for _ in range(2):  # a refusal is not remembered as anything else
        with pytest.raises(ProtocolError):
            Topics().parse_uplink(topic)


def test_a_parse_is_remembered_per_root() -> None:
    topic = "north/up/centre/L1/report"
    first = Topics("north").parse_uplink(topic)
    assert Topics("north").parse_uplink(topic) is first
    assert first == Uplink("north", "centre", "L1", UplinkKind.REPORT)
    with pytest.raises(ProtocolError):
        Topics("south").parse_uplink(topic)  # the same topic under another root: no uplink


@pytest.mark.parametrize("root", ["", "City", "a/b", "a+", "#", "x" * 33])
def test_a_root_that_is_not_one_safe_level_is_refused(root: str) -> None:
    with pytest.raises(ProtocolError, match="topic root"):
        check_root(root)
    with pytest.raises(ProtocolError):
        Topics(root)


@pytest.mark.parametrize(("zone", "lamp_id"), [("a/b", "L1"), ("centre", "L+1"), ("#", "L1")])
def test_a_wildcard_or_a_slash_never_reaches_a_topic(zone: str, lamp_id: str) -> None:
    topics = Topics()
    with pytest.raises(ProtocolError):
        topics.lamp(zone, lamp_id)
    with pytest.raises(ProtocolError):
        topics.fault(zone, lamp_id)
    with pytest.raises(ProtocolError):
        topics.uplink(zone, lamp_id, UplinkKind.REPORT)
