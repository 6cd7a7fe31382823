"""The JSON the controller publishes: a lamp as a FIWARE Streetlight, fault and incident
events; recorded documents, the status mapping, and properties of every notice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lighting.model import FaultKind
from lighting.notices import OPENED, RESOLVED, FaultNotice, IncidentNotice, LampNotice
from lighting.protocol import (
    Outgoing,
    Topics,
    clear_retained,
    lamp_status,
    outgoing,
    street_status,
)
from lighting.protocol.events import STATUS_OF_FAULT, iso, power_state

SHANGHAI = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 24, 20, 0, 1, 250_000, tzinfo=SHANGHAI)
TOPICS = Topics()
MS = timedelta(milliseconds=1)


def _lamp(**changes: Any) -> LampNotice:
    values: dict[str, Any] = {
        "lamp_id": "L00001",
        "zone": "centre",
        "latitude": 36.71,
        "longitude": 119.16,
        "level": 60,
        "power_w": 54.0,
        "lit": True,
        "in_contact": True,
        "faults": frozenset(),
        "at": AT,
    }
    values.update(changes)
    return LampNotice(**values)


def _fault(**changes: Any) -> FaultNotice:
    values: dict[str, Any] = {
        "event": OPENED,
        "fault_id": 12,
        "lamp_id": "L00001",
        "zone": "centre",
        "kind": FaultKind.LAMP_FAILURE,
        "source": "lamp",
        "status": "open",
        "opened_at": AT,
        "at": AT,
        "count": 1,
        "latitude": 36.71,
        "longitude": 119.16,
    }
    values.update(changes)
    return FaultNotice(**values)


def _json(out: Outgoing) -> Any:
    return json.loads(out.payload)


def test_a_lamp_status_is_a_retained_fiware_streetlight() -> None:
    out = outgoing(_lamp(), TOPICS)
    assert (out.topic, out.retain, out.qos) == ("citylight/lamp/centre/L00001", True, 1)
    assert _json(out) == {
        "id": "urn:ngsi-ld:Streetlight:L00001",
        "type": "Streetlight",
        "status": "ok",
        "powerState": "low",
        "illuminanceLevel": 0.6,
        "location": {"type": "Point", "coordinates": [119.16, 36.71]},
        "refStreetlightGroup": "urn:ngsi-ld:StreetlightGroup:centre",
        "zone": "centre",
        "inContact": True,
        "faults": [],
        "powerW": 54.0,
        "dateModified": "2026-11-24T12:00:01.250Z",
    }


def test_a_failed_lamp_is_defective_and_gives_no_light_whatever_its_level() -> None:
    doc = lamp_status(_lamp(lit=False, power_w=0.0, faults=frozenset({FaultKind.LAMP_FAILURE})))
    assert (doc["status"], doc["powerState"], doc["illuminanceLevel"]) == (
        "defectiveLamp",
        "off",
        0.6,
    )
    assert doc["faults"] == ["lamp-failure"]


def test_a_lamp_that_never_reported_says_no_power_state() -> None:
    doc = lamp_status(_lamp(level=None, power_w=None, lit=False, in_contact=False))
    assert "powerState" not in doc
    assert "illuminanceLevel" not in doc
    assert "powerW" not in doc
    assert doc["inContact"] is False


@pytest.mark.parametrize(
    ("level", "lit", "state"), [(100, True, "on"), (1, True, "low"), (0, False, "off")]
)
def test_power_state(level: int, lit: bool, state: str) -> None:
    assert power_state(level, lit) == state


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (set(), "ok"),
        ({FaultKind.POWER_FACTOR_LOW, FaultKind.THERMAL_DERATING}, "ok"),  # warnings: it lights
        ({FaultKind.COMMS_LOST}, "ok"),  # nobody knows: inContact says so
        ({FaultKind.LAMP_FAILURE}, "defectiveLamp"),
        ({FaultKind.NIGHT_OUTAGE}, "defectiveLamp"),
        ({FaultKind.DRIVER_FAILURE, FaultKind.LAMP_FAILURE}, "brokenLantern"),
        ({FaultKind.SUPPLY_LOSS, FaultKind.DRIVER_FAILURE}, "columnIssue"),
        ({FaultKind.VOLTAGE_LOW}, "columnIssue"),
    ],
)
def test_the_status_names_what_a_crew_sees_to_first(faults: set[FaultKind], status: str) -> None:
    assert street_status(frozenset(faults)) == status


def test_every_fault_a_lamp_can_report_that_stops_its_light_has_a_status() -> None:
    lights_anyway = {FaultKind.POWER_FACTOR_LOW, FaultKind.THERMAL_DERATING}
    lamp_side = {kind for kind in FaultKind if not kind.inferred}
    assert lamp_side - lights_anyway <= set(STATUS_OF_FAULT)


def test_a_fault_event_carries_the_fault_whole() -> None:
    out = outgoing(_fault(), TOPICS)
    assert (out.topic, out.retain, out.qos) == ("citylight/event/fault/centre/L00001", False, 1)
    assert _json(out) == {
        "id": "urn:ngsi-ld:StreetlightFault:12",
        "type": "StreetlightFault",
        "event": "opened",
        "faultId": 12,
        "kind": "lamp-failure",
        "severity": "major",
        "description": "The lamp gives no light although it is switched on.",
        "source": "lamp",
        "status": "open",
        "count": 1,
        "refStreetlight": "urn:ngsi-ld:Streetlight:L00001",
        "lamp": "L00001",
        "zone": "centre",
        "incidentId": None,
        "location": {"type": "Point", "coordinates": [119.16, 36.71]},
        "dateOpened": "2026-11-24T12:00:01.250Z",
        "dateObserved": "2026-11-24T12:00:01.250Z",
        "by": None,
        "note": "",
        "detail": "",
    }


def test_a_resolved_fault_says_who_and_when() -> None:
    later = AT + timedelta(hours=3)
    doc = _json(
        outgoing(
            _fault(event=RESOLVED, status="resolved", at=later, by="crew-7", note="LED replaced"),
            TOPICS,
        )
    )
    assert (doc["event"], doc["status"], doc["by"], doc["note"]) == (
        "resolved",
        "resolved",
        "crew-7",
        "LED replaced",
    )
    assert doc["dateObserved"] == "2026-11-24T15:00:01.250Z"
    assert doc["dateOpened"] == "2026-11-24T12:00:01.250Z"


def test_an_incident_event_goes_to_one_topic_with_its_cell_and_zones() -> None:
    notice = IncidentNotice(
        event=OPENED,
        incident_id=3,
        kind=FaultKind.SUPPLY_LOSS,
        cell="cell-0001",
        zones=("centre", "north"),
        lamps=7,
        status="open",
        opened_at=AT,
        at=AT,
        latitude=36.7,
        longitude=119.2,
    )
    out = outgoing(notice, TOPICS)
    assert (out.topic, out.retain) == ("citylight/event/incident", False)
    doc = _json(out)
    assert doc["id"] == "urn:ngsi-ld:StreetlightIncident:3"
    assert (doc["kind"], doc["severity"], doc["cell"], doc["zones"], doc["lamps"]) == (
        "supply-loss",
        "critical",
        "cell-0001",
        ["centre", "north"],
        7,
    )
    assert doc["location"] == {"type": "Point", "coordinates": [119.2, 36.7]}


def test_the_fingerprint_ignores_the_time_and_nothing_else() -> None:
    first = outgoing(_lamp(), TOPICS)
    later = outgoing(_lamp(at=AT + timedelta(minutes=1)), TOPICS)
    assert later.payload != first.payload
    assert later.fingerprint == first.fingerprint
    dimmed = outgoing(_lamp(level=40, at=AT + timedelta(minutes=1)), TOPICS)
    assert dimmed.fingerprint != first.fingerprint
    assert len(first.fingerprint) == 16


def test_clearing_a_retained_status_is_an_empty_retained_message() -> None:
    assert clear_retained("citylight/lamp/north/L1") == Outgoing(
        "citylight/lamp/north/L1", b"", retain=True
    )


@pytest.mark.parametrize("topic", ["", "citylight/lamp/+", "citylight/#"])
def test_an_outgoing_message_never_goes_to_a_wildcard(topic: str) -> None:
    with pytest.raises(ValueError, match="not a topic"):
        Outgoing(topic, b"{}")


def test_times_are_utc_and_a_naive_time_is_taken_as_utc() -> None:
    assert iso(datetime(2026, 1, 1, 8, tzinfo=SHANGHAI)) == "2026-01-01T00:00:00.000Z"
    assert iso(datetime(2026, 1, 1, 8)) == "2026-01-01T08:00:00.000Z"  # noqa: DTZ001


lamp_notices = st.builds(
    LampNotice,
    lamp_id=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z"),
    zone=st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,63}\Z"),
    latitude=st.floats(-90, 90),
    longitude=st.floats(-180, 180),
    level=st.none() | st.integers(0, 100),
    power_w=st.none() | st.floats(0, 10_000),
    lit=st.booleans(),
    in_contact=st.booleans(),
    faults=st.frozensets(st.sampled_from(FaultKind)),
    at=st.datetimes(timezones=st.just(UTC)),
)


@given(lamp_notices)
def test_every_lamp_notice_gives_a_valid_streetlight(notice: LampNotice) -> None:
    out = outgoing(notice, TOPICS)
    doc = json.loads(out.payload)
    assert out.retain
    assert doc["id"] == f"urn:ngsi-ld:Streetlight:{notice.lamp_id}"
    assert doc["status"] in {"ok", "defectiveLamp", "brokenLantern", "columnIssue"}
    assert doc.get("powerState", "off") in {"on", "off", "low"}
    assert 0 <= doc.get("illuminanceLevel", 0) <= 1
    assert doc["location"]["coordinates"] == [notice.longitude, notice.latitude]
    assert doc["faults"] == sorted(doc["faults"])
    assert timedelta(0) <= notice.at - datetime.fromisoformat(doc["dateModified"]) < MS
    if doc.get("powerState") in {"on", "low"}:
        assert notice.lit


@given(st.sampled_from(FaultKind), st.integers(1, 2**31), st.datetimes(timezones=st.just(UTC)))
def test_every_fault_kind_gives_an_event_with_its_slug_and_severity(
    kind: FaultKind, fault_id: int, at: datetime
) -> None:
    doc = json.loads(outgoing(_fault(kind=kind, fault_id=fault_id, at=at), TOPICS).payload)
    assert (doc["kind"], doc["severity"], doc["faultId"]) == (kind.slug, kind.severity, fault_id)
    assert FaultKind.from_slug(doc["kind"]) is kind
