"""The fleet's MQTT platform against a real Mosquitto: uplinks wait while the broker is away
and go out once it is back; a full buffer drops the oldest and counts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lighting.model import StateReport
from lighting.protocol import Topics, UplinkKind, decode_report, encode_report
from simulator.cli import sim
from simulator.mqtt import MqttOptions, MqttUplink
from tests.mqtt_broker import WAIT_S, AnyBroker, running, running_broker, unique, watching


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[AnyBroker]:
    with running_broker(tmp_path / "mosquitto") as started:
        if not started.restartable:
            pytest.skip("these tests stop and start the broker")
        yield started


def _report(seq: int) -> bytes:
    return encode_report(
        StateReport(lamp_id="L1", seq=seq, level=50, power_w=45, energy_wh=seq, burning_s=seq)
    )


async def test_uplinks_wait_while_the_broker_is_away_and_none_is_lost(
    broker: AnyBroker, caplog: pytest.LogCaptureFixture
) -> None:
    root = unique("sim")
    options = MqttOptions(
        broker.host,
        broker.port,
        root=root,
        client_id=unique("platform"),
        reconnect_min_s=0.02,
        reconnect_max_s=0.2,
    )
    uplink = MqttUplink(options)
    async with (
        watching(broker, Topics(root).uplinks) as controller,
        running(uplink.run(), uplink.connected),
    ):
        for seq in range(1, 501):
            uplink.send("centre", "L1", UplinkKind.REPORT, _report(seq))
        async with asyncio.timeout(WAIT_S):
            await controller.wait_count(1)  # the stream has begun
        await asyncio.to_thread(broker.stop)  # ... and breaks in the middle
        for seq in range(501, 601):
            uplink.send("centre", "L1", UplinkKind.REPORT, _report(seq))
        await asyncio.to_thread(broker.start)
        async with asyncio.timeout(WAIT_S):
            await uplink.wait_published(600)
            await controller.wait(lambda messages: len({m.payload for m in messages}) == 600)
    seqs = {decode_report(m.payload).seq for m in controller.messages}
    assert seqs == set(range(1, 601))
    assert {m.topic.value for m in controller.messages} == {f"{root}/up/centre/L1/report"}
    assert (uplink.dropped, uplink.waiting) == (0, 0)
    away = [r for r in caplog.records if "is away" in r.getMessage()]
    assert len(away) == 1  # said once, however many attempts it took


async def test_a_full_buffer_drops_the_oldest_and_counts_them(broker: AnyBroker) -> None:
    root = unique("sim")
    options = MqttOptions(
        broker.host, broker.port, root=root, client_id=unique("platform"), buffer=10
    )
    uplink = MqttUplink(options)
    for seq in range(1, 16):  # the platform has not connected yet
        uplink.send("north", "L1", UplinkKind.REPORT, _report(seq))
    assert (uplink.dropped, uplink.waiting) == (5, 10)
    async with (
        watching(broker, Topics(root).uplinks) as controller,
        running(uplink.run(), uplink.connected),
    ):
        async with asyncio.timeout(WAIT_S):
            await controller.wait_count(10)
    assert [decode_report(m.payload).seq for m in controller.messages] == list(range(6, 16))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--uplink", "mqtt", "--mqtt", "nowhere"], "must be HOST:PORT"),
        (["--uplink", "mqtt", "--mqtt-root", "City/Lights"], "topic root"),
    ],
)
def test_the_command_refuses_a_bad_broker_or_root(args: list[str], message: str) -> None:
    app = typer.Typer()
    app.command()(sim)
    result = CliRunner().invoke(app, ["--lamps", "1", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_options_refuse_a_bad_root_or_buffer() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MqttOptions(buffer=0)
    with pytest.raises(ValueError, match="reconnect"):
        MqttOptions(reconnect_min_s=5, reconnect_max_s=1)
