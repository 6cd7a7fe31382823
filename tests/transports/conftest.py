"""Fixtures of the MQTT tests: a Mosquitto of the test's own, the controller's MQTT
settings pointing at it (a client id and a topic root of the test's own), and a controller
whose lamps are registered."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lighting.config import MqttConfig, Settings
from lighting.controller import Controller
from lighting.model import Registration
from tests.mqtt_broker import AnyBroker, controller_config, running_broker

LAMPS = [f"L{i}" for i in range(1, 6)]


@pytest.fixture
async def controller(settings: Settings) -> AsyncIterator[Controller]:
    """The controller without MQTT, its lamps registered: the ingest is added by each test."""
    async with Controller(settings) as running_controller:
        assert running_controller.ingest is not None
        for lamp_id in LAMPS:
            registration = Registration(
                lamp_id=lamp_id, seq=1, zone="centre", latitude=36.7, longitude=119.1, wattage=90
            )
            await running_controller.ingest.on_registration(registration, "127.0.0.1", 9)
        yield running_controller


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[AnyBroker]:
    with running_broker(tmp_path / "mosquitto") as running:
        yield running


@pytest.fixture
def mqtt_config(broker: AnyBroker) -> MqttConfig:
    """The controller's MQTT settings for this test: quick reconnects, a root of its own."""
    return controller_config(broker)
