"""Fixtures of the MQTT tests: a Mosquitto of the test's own, and the controller's MQTT
settings pointing at it (a client id and a topic root of the test's own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lighting.config import MqttConfig
from tests.mqtt_broker import AnyBroker, running_broker, unique


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[AnyBroker]:
    with running_broker(tmp_path / "mosquitto") as running:
        yield running


@pytest.fixture
def mqtt_config(broker: AnyBroker) -> MqttConfig:
    """The controller's MQTT settings for this test: quick reconnects, a root of its own."""
    return MqttConfig(
        enabled=True,
        host=broker.host,
        port=broker.port,
        client_id=unique("controller"),
        topic_root=unique("t"),
        keepalive_s=5,
        reconnect_min_s=0.05,
        reconnect_max_s=0.5,
    )
