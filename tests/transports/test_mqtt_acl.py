"""The sample broker access rules of ``docs/mosquitto/`` against a real Mosquitto: the
controller logs in with its name and password and reads every lamp's uplinks; a lamp may
publish only its own; anonymous and wrong passwords are refused. The ACL file tested is
the one shipped in the docs, as it is."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from pydantic import SecretStr

from lighting.config import MqttConfig
from lighting.controller import Controller
from lighting.errors import BrokerError
from lighting.protocol import Topics, UplinkKind
from lighting.transports.mqtt import MqttIngest
from lighting.transports.mqtt_lean import Subscriber
from tests.mqtt_broker import WAIT_S, Broker, mosquitto_binary, running
from tests.transports.conftest import LAMPS
from tests.transports.test_mqtt import _all_stored, _report, _stored

ACL = Path(__file__).parents[2] / "docs" / "mosquitto" / "citylight.acl"
ROOT = "citylight"  # the sample ACL names the default topic root
USERS = {"citylight-controller": "c0ntroller", "L1": "lamp-one", "L2": "lamp-two"}


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Broker]:
    binary = mosquitto_binary()
    tool = shutil.which("mosquitto_passwd")
    if binary is None or tool is None:
        pytest.skip("mosquitto and mosquitto_passwd are not installed")
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    passwords = workdir / "passwd"
    for user, password in USERS.items():
        create = ["-c"] if not passwords.exists() else []
        subprocess.run(  # noqa: S603 - the system's mosquitto_passwd, our arguments
            [tool, *create, "-b", str(passwords), user, password], check=True, timeout=10
        )
    broker = Broker(
        binary,
        workdir,
        access=["allow_anonymous false", f"password_file {passwords}", f"acl_file {ACL}"],
    )
    with broker:
        yield broker


def _config(broker: Broker, password: str) -> MqttConfig:
    return MqttConfig(
        enabled=True,
        host=broker.host,
        port=broker.port,
        client_id="citylight-acl-test",
        username="citylight-controller",
        password=SecretStr(password),
        topic_root=ROOT,
        keepalive_s=5,
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
    )


@pytest.fixture
async def ingest(secured: Broker, controller: Controller) -> AsyncIterator[MqttIngest]:
    assert controller.ingest is not None
    taking = MqttIngest(
        _config(secured, USERS["citylight-controller"]), controller.ingest, controller.counters
    )
    async with running(taking.run(), taking.connected):
        yield taking


async def _publish_as(broker: Broker, user: str, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(
        broker.host, broker.port, identifier=f"acl-{user}", username=user, password=USERS[user]
    ) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def test_a_lamp_publishes_its_own_uplinks_and_no_other_lamps(
    secured: Broker, controller: Controller, ingest: MqttIngest
) -> None:
    topics = Topics(ROOT)
    assert LAMPS[:2] == ["L1", "L2"]
    own = topics.uplink("centre", "L1", UplinkKind.REPORT)
    forged = topics.uplink("centre", "L2", UplinkKind.REPORT)
    # L1 tries to speak as L2, then reports as itself: the broker keeps one client's
    # messages in order, so once L1's own report is stored the forged one had its chance.
    await _publish_as(secured, "L1", [(forged, _report("L2", 7)), (own, _report("L1", 7))])
    async with asyncio.timeout(WAIT_S):
        await _all_stored(ingest, controller, 1)
    assert await _stored(controller, "L1") == [7]
    assert await _stored(controller, "L2") == []
    assert controller.counters["mqtt.accepted.report"] == 1


async def test_anonymous_and_wrong_passwords_are_refused(secured: Broker) -> None:
    for username, password in ((None, None), ("citylight-controller", "guess")):
        client = aiomqtt.Client(secured.host, secured.port, username=username, password=password)
        lean = Subscriber(
            secured.host,
            secured.port,
            client_id="acl-lean",
            clean_session=True,
            keepalive_s=5,
            username=username,
            password=password,
        )
        async with asyncio.timeout(WAIT_S):
            with pytest.raises(aiomqtt.MqttError, match="authori"):
                await client.__aenter__()
            with pytest.raises(BrokerError, match=r"not authorised|bad user name"):
                await lean.__aenter__()


async def test_a_lamp_cannot_read_what_the_controller_reads(secured: Broker) -> None:
    # Subscribing outside its rights is granted at the protocol level but delivers nothing:
    # L2 does not see L1's uplink, while the controller's user does.
    topics = Topics(ROOT)
    topic = topics.uplink("centre", "L1", UplinkKind.REPORT)
    async with (
        aiomqtt.Client(secured.host, secured.port, username="L2", password=USERS["L2"]) as lamp,
        aiomqtt.Client(
            secured.host,
            secured.port,
            username="citylight-controller",
            password=USERS["citylight-controller"],
        ) as reader,
    ):
        await lamp.subscribe(topics.uplinks, qos=1)
        await reader.subscribe(topics.uplinks, qos=1)
        await _publish_as(secured, "L1", [(topic, _report("L1", 9))])
        async with asyncio.timeout(WAIT_S):
            message = await anext(reader.messages)
        assert str(message.topic) == topic
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await anext(lamp.messages)
