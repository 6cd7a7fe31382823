"""End to end over a broker: a simulated fleet whose NB-IoT platform forwards reports and
fault events to Mosquitto (``lighting sim --uplink mqtt``), and the controller with
``[mqtt] enabled`` taking them from there and publishing what it makes of them.

Registration and commands stay on CoAP; every report and fault event goes through MQTT
(the CoAP counters of reports and faults stay at zero).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import aiomqtt

from lighting.config import MqttConfig
from lighting.controller import Controller
from lighting.controller.events import Subscription
from lighting.model import FaultKind
from lighting.notices import OPENED, FaultNotice, LampNotice, Notice
from lighting.protocol import Topics
from simulator import Simulator, build_fleet
from simulator.mqtt import MqttOptions
from tests.conftest import make_settings
from tests.mqtt_broker import WAIT_S, AnyBroker, unique, watching

SHANGHAI = ZoneInfo("Asia/Shanghai")
LAMPS = 30


async def _session(broker: AnyBroker, config: MqttConfig) -> None:
    """Open the controller's persistent session, as a deployed broker already holds it:
    reports published before the controller has connected then wait for it."""
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=config.client_id, clean_session=False
    ) as client:
        await client.subscribe(Topics(config.topic_root).uplinks, qos=1)


async def _until(subscription: Subscription, seen: Callable[[Notice], bool]) -> None:
    while not seen(await subscription.get()):
        pass


async def test_a_fleet_reporting_over_mqtt_is_stored_and_its_fault_goes_out_as_an_event(
    db_url: str, coap_port: int, lamp_base: str, broker: AnyBroker, mqtt_config: MqttConfig
) -> None:
    settings = make_settings(
        db_url, coap_port, mqtt=mqtt_config.model_dump(), delivery={"jitter_s": 0.05}
    )
    await _session(broker, mqtt_config)
    root = mqtt_config.topic_root
    specs = build_fleet(
        LAMPS,
        zones=list(settings.zones),
        base_address=lamp_base,
        port=coap_port,
        report_period_s=1,
    )
    platform = MqttOptions(broker.host, broker.port, root=root, client_id=unique("platform"))
    async with (
        watching(broker, f"{root}/#") as city,
        Controller(settings) as controller,
        Simulator(specs, controller.address, mqtt=platform) as sim,
    ):
        notices = controller.events.subscribe("test", maxsize=100_000)
        async with asyncio.timeout(WAIT_S):
            await sim.wait_registered()
        await controller.apply_level(
            "centre", 100, "test", datetime(2026, 11, 24, 20, tzinfo=SHANGHAI)
        )
        centre = {n.spec.lamp_id: n for n in sim.nodes.values() if n.spec.zone == "centre"}
        # Each centre lamp's next report (over MQTT) says it is at 100 %.
        full: set[str] = set()

        def all_full(notice: Notice) -> bool:
            if isinstance(notice, LampNotice) and notice.level == 100:
                full.add(notice.lamp_id)
            return full >= set(centre)

        async with asyncio.timeout(WAIT_S):
            await _until(notices, all_full)

        failing = next(iter(centre.values()))
        sim.inject(failing.spec.lamp_id, FaultKind.LAMP_FAILURE)
        async with asyncio.timeout(WAIT_S):
            await _until(
                notices,
                lambda n: (
                    isinstance(n, FaultNotice)
                    and (n.lamp_id, n.kind, n.event)
                    == (failing.spec.lamp_id, FaultKind.LAMP_FAILURE, OPENED)
                ),
            )
            # ... and the city hears of it: the event, then the lamp's status.
            fault_topic = f"{root}/event/fault/centre/{failing.spec.lamp_id}"
            lamp_topic = f"{root}/lamp/centre/{failing.spec.lamp_id}"

            def defective(messages: list[aiomqtt.Message]) -> bool:
                return any(
                    m.topic.value == lamp_topic
                    and json.loads(m.payload)["status"] == "defectiveLamp"
                    for m in messages
                )

            await city.wait(defective)
        counters = controller.counters
        lamps = await controller.store.call(controller.repository.lamps)
        faults = await controller.store.call(controller.repository.faults)

    stored = {lamp.lamp_id: lamp for lamp in lamps}
    for lamp_id, node in centre.items():
        assert stored[lamp_id].level == 100, lamp_id
        if lamp_id != failing.spec.lamp_id:
            assert stored[lamp_id].power_w == node.spec.wattage, lamp_id
    assert (failing.spec.lamp_id, FaultKind.LAMP_FAILURE) in {(f.lamp_id, f.kind) for f in faults}
    assert counters["mqtt.accepted.report"] >= LAMPS + len(centre)
    assert counters["mqtt.accepted.fault"] == 1
    assert counters["coap.accepted.report"] == counters["coap.accepted.fault"] == 0
    assert counters["coap.accepted.registration"] == LAMPS

    (opened,) = [
        json.loads(m.payload)
        for m in city.messages
        if m.topic.value == fault_topic and json.loads(m.payload)["event"] == "opened"
    ]
    assert (opened["kind"], opened["severity"], opened["lamp"], opened["zone"]) == (
        "lamp-failure",
        "major",
        failing.spec.lamp_id,
        "centre",
    )
    assert opened["location"]["coordinates"] == [failing.spec.longitude, failing.spec.latitude]
    statuses = [m for m in city.messages if m.topic.value.startswith(f"{root}/lamp/")]
    assert {m.topic.value.rsplit("/", 1)[1] for m in statuses} == set(sim.nodes)
    assert all(m.qos == 1 for m in city.messages)
