"""The MQTT adapter against a real Mosquitto and the real controller (storage on SQLite).

The ingest runs with the controller's own ``Ingest`` as its handler, so a report goes the
whole way: broker, decoding, the report writer's batches, the database. The publisher runs
on a real ``EventHub``. Nothing of the broker is mocked; waits are bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import cbor2
import pytest

from lighting.config import MqttConfig
from lighting.controller import Controller
from lighting.controller.events import EventHub
from lighting.metrics import Counters
from lighting.model import FaultEvent, FaultKind, StateReport
from lighting.notices import OPENED, FaultNotice, LampNotice
from lighting.protocol import Topics, UplinkKind, encode_fault, encode_report
from lighting.transports import MqttIngest, MqttLink, MqttPublisher
from lighting.transports.mqtt import HANDLERS_IN_FLIGHT
from tests.conftest import make_settings
from tests.mqtt_broker import (
    CONNACK_OK,
    WAIT_S,
    AnyBroker,
    fake_broker,
    free_tcp_port,
    publish,
    read_packets,
    running,
    unique,
    watching,
)
from tests.transports.conftest import LAMPS

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


STACKS = pytest.mark.parametrize("stack", ["lean", "aiomqtt"])
"""The ingest's tests run with its lean subscriber and with aiomqtt, the reference."""


def _ingest(config: MqttConfig, controller: Controller, stack: str = "lean") -> MqttIngest:
    assert controller.ingest is not None
    config = MqttConfig.model_validate({**config.model_dump(), "ingest_stack": stack})
    return MqttIngest(config, controller.ingest, controller.counters)


def _report(lamp_id: str, seq: int, level: int = 50) -> bytes:
    return encode_report(
        StateReport(
            lamp_id=lamp_id,
            seq=seq,
            level=level,
            power_w=level * 0.9,
            energy_wh=float(seq),
            burning_s=seq,
        )
    )


def _reports(topics: Topics, seqs: range) -> list[tuple[str, bytes]]:
    """Reports of every lamp with the sequence numbers ``seqs``."""
    return [
        (topics.uplink("centre", lamp_id, UplinkKind.REPORT), _report(lamp_id, seq, seq % 101))
        for seq in seqs
        for lamp_id in LAMPS
    ]


async def _stored(controller: Controller, lamp_id: str) -> list[int]:
    """The sequence numbers stored for ``lamp_id``, oldest first."""
    reports = await controller.store.call(controller.repository.reports, lamp_id, limit=10_000)
    return sorted(report.seq for report in reports)


async def _all_stored(ingest: MqttIngest, controller: Controller, count: int) -> None:
    """Wait until ``count`` reports of the lamps are stored (each handled uplink a step)."""
    while True:
        seen = ingest.handled  # before the count: a report handled meanwhile is not missed
        if sum([len(await _stored(controller, lamp)) for lamp in LAMPS]) >= count:
            return
        await ingest.wait_handled(seen + 1)


@STACKS
async def test_a_report_delivered_twice_is_stored_once(
    broker: AnyBroker, mqtt_config: MqttConfig, controller: Controller, stack: str
) -> None:
    ingest = _ingest(mqtt_config, controller, stack)
    topic = ingest.topics.uplink("centre", "L1", UplinkKind.REPORT)
    async with running(ingest.run(), ingest.connected):
        await publish(broker, [(topic, _report("L1", 2, 70)), (topic, _report("L1", 2, 70))])
        async with asyncio.timeout(WAIT_S):
            await ingest.wait_handled(2)
    assert await _stored(controller, "L1") == [2]
    counters = controller.counters
    assert (counters["reports.newest"], counters["reports.duplicate"]) == (1, 1)
    assert counters["mqtt.accepted.report"] == 2
    lamp = await controller.store.call(controller.repository.lamp, "L1")
    assert lamp is not None
    assert (lamp.level, lamp.power_w) == (70, 63.0)


@STACKS
async def test_reports_sent_while_the_controller_is_away_wait_for_it(
    broker: AnyBroker, mqtt_config: MqttConfig, controller: Controller, stack: str
) -> None:
    topics = Topics(mqtt_config.topic_root)
    first = _ingest(mqtt_config, controller, stack)
    async with running(first.run(), first.connected):
        pass  # the persistent session now exists at the broker
    # The controller is away: the broker keeps these for its session.
    await publish(broker, _reports(topics, range(2, 12)))
    again = _ingest(mqtt_config, controller, stack)  # the same client id: the same session
    async with running(again.run(), again.connected):
        async with asyncio.timeout(WAIT_S):
            await again.wait_handled(50)
        # One of them again, as a broker redelivers after a lost acknowledgement.
        await publish(broker, _reports(topics, range(11, 12)))
        async with asyncio.timeout(WAIT_S):
            await again.wait_handled(55)
    for lamp_id in LAMPS:
        assert await _stored(controller, lamp_id) == list(range(2, 12)), lamp_id
    assert controller.counters["reports.duplicate"] == 5


@STACKS
async def test_a_broker_restart_loses_nothing_it_acknowledged(
    broker: AnyBroker, mqtt_config: MqttConfig, controller: Controller, stack: str
) -> None:
    if not broker.restartable:
        pytest.skip("the broker of CITYLIGHT_TEST_MQTT cannot be restarted")
    ingest = _ingest(mqtt_config, controller, stack)
    async with running(ingest.run(), ingest.connected):
        await publish(broker, _reports(ingest.topics, range(2, 12)))
        async with asyncio.timeout(WAIT_S):
            await ingest.wait_handled(50)
        await asyncio.to_thread(broker.restart)
        # Published at once, before the ingest is back: the broker keeps them for it.
        await publish(broker, _reports(ingest.topics, range(12, 42)))
        # Messages in hand when the broker went are sent again (not acknowledged yet), so
        # handled uplinks may include duplicates: wait for the stored ones.
        async with asyncio.timeout(WAIT_S):
            await _all_stored(ingest, controller, 200)
        assert ingest.connected.is_set()
    for lamp_id in LAMPS:
        assert await _stored(controller, lamp_id) == list(range(2, 42)), lamp_id
    assert controller.counters["mqtt.reconnects"] == 1
    assert controller.counters["mqtt.disconnects"] == 1


@STACKS
async def test_many_reports_are_stored_concurrently_not_one_by_one(
    broker: AnyBroker, mqtt_config: MqttConfig, controller: Controller, stack: str
) -> None:
    # One at a time, each report would wait for its own transaction.
    ingest = _ingest(mqtt_config, controller, stack)
    async with running(ingest.run(), ingest.connected):
        await publish(broker, _reports(ingest.topics, range(2, 102)))
        async with asyncio.timeout(5):
            await ingest.wait_handled(500)
    assert controller.counters["reports.newest"] + controller.counters["reports.late"] == 500
    for lamp_id in LAMPS:
        assert len(await _stored(controller, lamp_id)) == 100


@STACKS
async def test_a_stop_in_the_middle_of_a_stream_loses_nothing(
    broker: AnyBroker, mqtt_config: MqttConfig, controller: Controller, stack: str
) -> None:
    # A message is acknowledged to the broker only once stored: what the controller held
    # when it stopped comes again to the next session, and is stored once. The stream waits
    # at the broker, so that it comes at once when the session is back (published while
    # the ingest runs, it may be stored as fast as it is published), and is three times
    # what the ingest holds at once: a stop after the first burst cannot have stored it all.
    seqs = range(2, 2 + 3 * HANDLERS_IN_FLIGHT // len(LAMPS))
    total = len(seqs) * len(LAMPS)
    session = _ingest(mqtt_config, controller, stack)
    async with running(session.run(), session.connected):
        pass  # the persistent session now exists at the broker
    await publish(broker, _reports(session.topics, seqs))
    first = _ingest(mqtt_config, controller, stack)
    runner = asyncio.create_task(first.run())
    async with asyncio.timeout(WAIT_S):
        await first.wait_handled(1)
        await first.drain()
        await runner
    assert 0 < first.handled < total  # it stopped in the middle
    again = _ingest(mqtt_config, controller, stack)
    async with running(again.run(), again.connected):
        async with asyncio.timeout(WAIT_S):
            await _all_stored(again, controller, total)
    for lamp_id in LAMPS:
        assert await _stored(controller, lamp_id) == list(seqs), lamp_id


@STACKS
async def test_bad_uplinks_are_counted_logged_once_and_the_ingest_goes_on(
    broker: AnyBroker,
    mqtt_config: MqttConfig,
    controller: Controller,
    caplog: pytest.LogCaptureFixture,
    stack: str,
) -> None:
    ingest = _ingest(mqtt_config, controller, stack)
    topics = ingest.topics
    l1 = topics.uplink("centre", "L1", UplinkKind.REPORT)
    root = mqtt_config.topic_root
    bad = [
        (l1, b"\xff\xfe not CBOR"),
        (l1, b"\xff\xfe not CBOR either"),
        (l1, cbor2.dumps({0: "L1", 1: 2})),  # no level, power, ...
        (l1, cbor2.dumps({0: "L1", 1: 3, 2: 250, 4: 0, 5: 0, 6: 0})),  # level 250
        (topics.uplink("centre", "L1", UplinkKind.FAULT), cbor2.dumps({0: "L1", 1: 4})),
        (l1, cbor2.dumps({0: "L1", 1: 5, 99: "x" * 2000})),  # over MAX_PAYLOAD
        (f"{root}/up/centre/L1/weather", _report("L1", 6)),
        (f"{root}/up/centre/L1", _report("L1", 7)),
        (f"{root}/up/Centre/L1/report", _report("L1", 8)),
        (topics.uplink("centre", "stranger", UplinkKind.REPORT), _report("stranger", 9)),
        (topics.uplink("centre", "L2", UplinkKind.REPORT), _report("L1", 10)),  # L1 as L2
    ]
    good = (l1, _report("L1", 11, level=40))
    caplog.set_level(logging.WARNING, logger="lighting.transports.mqtt")
    async with running(ingest.run(), ingest.connected):
        await publish(broker, [*bad, good])
        async with asyncio.timeout(WAIT_S):
            await ingest.wait_handled(len(bad) + 1)
    counters = controller.counters
    assert {
        name: count for name, count in counters.snapshot().items() if name.startswith("mqtt.")
    } == {
        "mqtt.refused.bad-payload": 5,
        "mqtt.refused.too-large": 1,
        "mqtt.refused.bad-topic": 3,
        "mqtt.refused.unknown-lamp": 1,
        "mqtt.refused.lamp-mismatch": 1,
        "mqtt.accepted.report": 1,
    }
    logged = [r.getMessage() for r in caplog.records if "counted as mqtt.refused" in r.getMessage()]
    assert len(logged) == 5, logged  # once per kind, not once per message
    assert await _stored(controller, "L1") == [11]
    assert await _stored(controller, "L2") == []


@STACKS
async def test_a_fault_event_over_mqtt_opens_a_fault(
    broker: AnyBroker, mqtt_config: MqttConfig, controller: Controller, stack: str
) -> None:
    ingest = _ingest(mqtt_config, controller, stack)
    topic = ingest.topics.uplink("centre", "L3", UplinkKind.FAULT)
    event = FaultEvent(lamp_id="L3", seq=2, kind=FaultKind.LAMP_FAILURE, active=True)
    assert controller.faults is not None
    async with running(ingest.run(), ingest.connected):
        await publish(broker, [(topic, encode_fault(event))])
        async with asyncio.timeout(WAIT_S):
            await controller.faults.wait_opened(1)
    faults = await controller.store.call(controller.repository.faults)
    assert [(f.lamp_id, f.kind) for f in faults] == [("L3", FaultKind.LAMP_FAILURE)]
    assert controller.counters["mqtt.accepted.fault"] == 1


@STACKS
async def test_a_broker_that_hangs_up_at_once_is_asked_less_and_less_often(
    controller: Controller, stack: str
) -> None:
    """A broker that accepts the connection and the subscription and then hangs up each
    time is asked again after longer and longer waits; once a connection held for
    ``reconnect_max_s``, the next loss is retried after the shortest wait again."""
    loop = asyncio.get_running_loop()
    connects: list[float] = []
    hang_ups: list[float] = []

    async def flaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connects.append(loop.time())
        await read_packets(reader, 1)  # CONNECT
        writer.write(CONNACK_OK)
        ((_, subscribe),) = await read_packets(reader, 1)
        writer.write(b"\x90\x03" + subscribe[:2] + b"\x01")  # its packet id, QoS 1
        await writer.drain()
        if len(connects) == 5:
            await asyncio.sleep(2.0)  # this one holds longer than reconnect_max_s
        hang_ups.append(loop.time())

    async with fake_broker(flaky) as (host, port):
        config = MqttConfig.model_validate(
            {
                "enabled": True,
                "host": host,
                "port": port,
                "client_id": unique("flaky"),
                "topic_root": unique("t"),
                "reconnect_min_s": 0.05,
                "reconnect_max_s": 1.6,
                "ingest_stack": stack,
            }
        )
        assert controller.ingest is not None
        ingest = MqttIngest(config, controller.ingest, controller.counters)
        task = asyncio.create_task(ingest.run())
        try:
            async with asyncio.timeout(WAIT_S):
                while len(connects) < 6:
                    await ingest.connected.wait()
                    ingest.connected.clear()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    waits = [connects[i + 1] - hang_ups[i] for i in range(5)]
    # Backoff delays of 0.05, 0.1, 0.2 and 0.4 s, each times a random 0.5 to 1: the fourth
    # is 0.2 s at least (it was 0.025 to 0.05 s when every connection reset the backoff).
    assert waits[3] >= 0.2, waits
    # After the long connection, the shortest again (0.4 s at least without the reset).
    assert waits[4] < 0.3, waits


# -- the publisher ---------------------------------------------------------------------------


def _status(level: int, at: datetime, zone: str = "centre") -> LampNotice:
    return LampNotice(
        lamp_id="L1",
        zone=zone,
        latitude=36.71,
        longitude=119.16,
        level=level,
        power_w=level * 0.9,
        lit=level > 0,
        in_contact=True,
        faults=frozenset(),
        at=at,
    )


def _fault(fault_id: int) -> FaultNotice:
    return FaultNotice(
        event=OPENED,
        fault_id=fault_id,
        lamp_id="L1",
        zone="centre",
        kind=FaultKind.LAMP_FAILURE,
        source="lamp",
        status="open",
        opened_at=T0,
        at=T0,
        count=1,
        latitude=36.71,
        longitude=119.16,
    )


Published = tuple[EventHub, MqttPublisher]


@pytest.fixture
async def published(mqtt_config: MqttConfig) -> AsyncIterator[Published]:
    """A real event hub, and the publisher listening to it, connected."""
    counters = Counters()
    hub = EventHub(counters)
    publisher = MqttPublisher(mqtt_config, hub, counters)
    async with publisher, running(publisher.run(), publisher.connected):
        yield hub, publisher


async def test_a_status_is_retained_and_sent_again_only_when_it_changes(
    broker: AnyBroker, mqtt_config: MqttConfig, published: Published
) -> None:
    hub, publisher = published
    counters = publisher.counters
    topics = Topics(mqtt_config.topic_root)
    async with watching(broker, f"{mqtt_config.topic_root}/#") as watcher:
        hub.emit(_status(60, T0))
        hub.emit(_status(60, T0 + timedelta(minutes=1)))  # a report that changes nothing
        hub.emit(_status(40, T0 + timedelta(minutes=2)))
        hub.emit(_fault(1))  # comes after the statuses: nothing else was sent
        async with asyncio.timeout(WAIT_S):
            await watcher.wait_count(3)
            await publisher.wait_published(3)
    statuses = [json.loads(m.payload) for m in watcher.messages[:2]]
    assert [s["illuminanceLevel"] for s in statuses] == [0.6, 0.4]
    assert statuses[1]["dateModified"] == "2026-11-24T12:02:00.000Z"
    assert [m.topic.value for m in watcher.messages] == [
        topics.lamp("centre", "L1"),
        topics.lamp("centre", "L1"),
        topics.fault("centre", "L1"),
    ]
    assert (counters["mqtt.published"], counters["mqtt.unchanged"]) == (3, 1)
    # A city application that starts now gets the latest status, retained.
    async with watching(broker, topics.lamps) as late:
        async with asyncio.timeout(WAIT_S):
            await late.wait_count(1)
    (retained,) = late.messages
    assert retained.retain
    assert json.loads(retained.payload)["illuminanceLevel"] == 0.4


async def test_a_lamp_that_moves_zone_leaves_no_status_behind(
    broker: AnyBroker, mqtt_config: MqttConfig, published: Published
) -> None:
    hub, _ = published
    topics = Topics(mqtt_config.topic_root)
    async with watching(broker, topics.lamps) as watcher:
        hub.emit(_status(60, T0, zone="centre"))
        hub.emit(_status(60, T0, zone="north"))
        async with asyncio.timeout(WAIT_S):
            await watcher.wait_count(3)
    assert [(m.topic.value, bool(m.payload)) for m in watcher.messages] == [
        (topics.lamp("centre", "L1"), True),
        (topics.lamp("centre", "L1"), False),  # the old status is cleared
        (topics.lamp("north", "L1"), True),
    ]
    async with watching(broker, topics.lamps) as late:
        async with asyncio.timeout(WAIT_S):
            await late.wait_count(1)
    assert [m.topic.value for m in late.messages] == [topics.lamp("north", "L1")]


async def test_many_events_go_out_in_order_with_many_in_flight(
    broker: AnyBroker, mqtt_config: MqttConfig, published: Published
) -> None:
    hub, publisher = published
    counters = publisher.counters
    async with watching(broker, f"{mqtt_config.topic_root}/event/#") as watcher:
        for fault_id in range(1, 1001):
            hub.emit(_fault(fault_id))
        async with asyncio.timeout(WAIT_S):
            await watcher.wait_count(1000)
            await publisher.wait_published(1000)
    ids = [json.loads(m.payload)["faultId"] for m in watcher.messages]
    assert ids == list(range(1, 1001))
    assert counters["mqtt.published"] == 1000


async def test_events_wait_while_the_broker_is_away_and_none_is_lost(
    broker: AnyBroker, mqtt_config: MqttConfig, published: Published
) -> None:
    if not broker.restartable:
        pytest.skip("the broker of CITYLIGHT_TEST_MQTT cannot be restarted")
    hub, publisher = published
    counters = publisher.counters
    async with watching(broker, f"{mqtt_config.topic_root}/event/#") as watcher:
        for fault_id in range(1, 2001):
            hub.emit(_fault(fault_id))
        async with asyncio.timeout(WAIT_S):
            await watcher.wait_count(1)  # the stream has begun
        await asyncio.to_thread(broker.stop)  # ... and breaks in the middle
        for fault_id in range(2001, 2101):
            hub.emit(_fault(fault_id))  # these wait in the hub
        await asyncio.to_thread(broker.start)
        async with asyncio.timeout(WAIT_S):
            await watcher.wait(
                lambda messages: len({m.payload for m in messages}) == 2100  # at least once
            )
    ids = [json.loads(m.payload)["faultId"] for m in watcher.messages]
    assert set(ids) == set(range(1, 2101))
    assert counters["mqtt.reconnects"] == 1
    assert counters["events.dropped.mqtt"] == 0


# -- the link in the daemon ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subscribe", "publish_", "names"),
    [
        (True, True, ["mqtt ingest", "mqtt events"]),
        (True, False, ["mqtt ingest"]),
        (False, True, ["mqtt events"]),
        (False, False, []),
    ],
)
async def test_the_link_runs_the_sides_that_are_turned_on(
    mqtt_config: MqttConfig,
    controller: Controller,
    subscribe: bool,
    publish_: bool,
    names: list[str],
) -> None:
    config = mqtt_config.model_copy(update={"subscribe": subscribe, "publish": publish_})
    assert controller.ingest is not None
    async with MqttLink(config, controller.ingest, controller.events, controller.counters) as link:
        loops = link.loops()
        for _, loop in loops:
            loop.close()  # not run here: only named
    assert [name for name, _ in loops] == names


async def test_a_controller_starts_and_stops_cleanly_while_no_broker_answers(
    db_url: str, coap_port: int, mqtt_config: MqttConfig, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = mqtt_config.model_copy(update={"port": free_tcp_port()})
    settings = make_settings(db_url, coap_port, mqtt=nowhere.model_dump())
    caplog.set_level(logging.WARNING, logger="lighting.transports.mqtt")
    async with asyncio.timeout(WAIT_S), Controller(settings) as controller:
        assert controller.ingest is not None  # the controller is up, the broker is not
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
