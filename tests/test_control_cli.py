"""The CLI through the running daemon: overrides set, listed and cancelled, and faults
acknowledged over the control channel (so that the daemon announces them); without a daemon,
an override is refused (exit 3) and an acknowledgement is written to the record directly.

The CLI runs ``asyncio.run`` of its own, so it is invoked on a worker thread while the daemon
runs on the test's loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lighting.cli import app
from lighting.config import Settings
from lighting.controller import Controller
from lighting.controller.faults import CONTROLLER
from lighting.model import FaultKind
from lighting.notices import ACKNOWLEDGED, FaultNotice
from simulator import Simulator, build_fleet
from tests.conftest import make_settings

runner = CliRunner()
LAMPS = 6
WAIT_S = 20

City = tuple[Controller, Simulator]


@pytest.fixture
def control_settings(db_url: str, coap_port: int, tmp_path: Path) -> Settings:
    return make_settings(
        db_url,
        coap_port,
        delivery={"concurrency": 16, "jitter_s": 0.05},
        control={"socket": str(tmp_path / "c.sock")},
    )


@pytest.fixture
async def city(control_settings: Settings, lamp_base: str) -> AsyncIterator[City]:
    settings = control_settings
    async with Controller(settings) as controller:
        specs = build_fleet(
            LAMPS, zones=["centre"], base_address=lamp_base, port=settings.coap.port
        )
        async with Simulator(specs, controller.address) as sim:
            async with asyncio.timeout(WAIT_S):
                await sim.wait_registered()
            yield controller, sim


async def _lighting(settings: Settings, *args: str) -> Result:
    env = {
        "CITYLIGHT_DATABASE_URL": settings.database_url,
        "CITYLIGHT_CONTROL__SOCKET": settings.control.socket,
    }
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), env=env))


async def test_an_override_from_the_cli_reaches_the_lamps_and_can_be_cancelled(
    city: City, control_settings: Settings
) -> None:
    controller, sim = city
    result = await _lighting(
        control_settings,
        *("override", "set", "--zone", "centre", "--level", "70", "--for", "45min"),
        *("--by", "duty-officer", "--reason", "concert"),
    )
    assert result.exit_code == 0, result.output
    assert "zone centre at 70 %" in result.output
    async with asyncio.timeout(WAIT_S):
        await asyncio.gather(*(node.wait_level(70) for node in sim.nodes.values()))

    listed = await _lighting(control_settings, "override", "list", "-f", "json")
    assert listed.exit_code == 0, listed.output
    (shown,) = json.loads(listed.output)
    assert (shown["zone"], shown["level"], shown["by"]) == ("centre", 70, "duty-officer")
    assert shown["reason"] == "concert"

    cancelled = await _lighting(
        control_settings, "override", "cancel", str(shown["id"]), "--by", "duty-officer"
    )
    assert cancelled.exit_code == 0, cancelled.output
    assert controller.desk.overrides == {}
    none_left = await _lighting(control_settings, "override", "list")
    assert none_left.exit_code == 1

    # Both orders went through the daemon, and the audit trail says who gave them.
    trail = await _lighting(control_settings, "audit", "--action", "override", "-f", "json")
    assert trail.exit_code == 0, trail.output
    entries = json.loads(trail.output)
    assert [(e["action"], e["by"], e["target"]) for e in entries] == [
        ("override.cancel", "duty-officer", "zone centre"),
        ("override.set", "duty-officer", "zone centre"),
    ]
    nobody = await _lighting(control_settings, "audit", "--by", "someone-else")
    assert nobody.exit_code == 1
    unknown = await _lighting(control_settings, "audit", "--action", "reboot")
    assert unknown.exit_code == 2


async def test_a_refused_override_says_why(city: City, control_settings: Settings) -> None:
    result = await _lighting(
        control_settings,
        *("override", "set", "--zone", "atlantis", "--level", "70", "--for", "1h", "--by", "x"),
    )
    assert result.exit_code == 1
    assert "no zone atlantis" in result.output


async def test_an_acknowledgement_goes_through_the_daemon(
    city: City, control_settings: Settings
) -> None:
    controller, sim = city
    assert controller.faults is not None
    lamp_id = next(iter(sim.nodes))
    fault = await controller.faults.open(lamp_id, FaultKind.DRIVER_FAILURE, CONTROLLER)
    with controller.events.subscribe("test") as notices:
        result = await _lighting(
            control_settings, "faults", "ack", str(fault.fault_id), "--by", "crew-3"
        )
        assert result.exit_code == 0, result.output
        async with asyncio.timeout(WAIT_S):
            while True:
                notice = await notices.get()
                if isinstance(notice, FaultNotice) and notice.event == ACKNOWLEDGED:
                    break
    assert (notice.fault_id, notice.by) == (fault.fault_id, "crew-3")


def test_without_a_daemon_an_override_is_refused(control_settings: Settings) -> None:
    result = runner.invoke(
        app,
        ["override", "set", "--zone", "centre", "--level", "70", "--for", "1h", "--by", "x"],
        env={"CITYLIGHT_CONTROL__SOCKET": control_settings.control.socket},
    )
    assert result.exit_code == 3
    assert "no daemon answers" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--level", "70", "--for", "1h", "--by", "x"],
        ["--zone", "centre", "--lamp", "L1", "--level", "70", "--for", "1h", "--by", "x"],
        ["--zone", "centre", "--level", "70", "--for", "soon", "--by", "x"],
        ["--zone", "centre", "--level", "170", "--for", "1h", "--by", "x"],
    ],
)
def test_override_usage_errors_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, ["override", "set", *args])
    assert result.exit_code == 2, result.output
