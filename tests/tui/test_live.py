"""The dashboard against a real daemon and a simulated city of real CoAP lamps: what it shows
comes from the daemon, and what is typed in it reaches the lamps and the record."""

from __future__ import annotations

import asyncio
import logging

import pytest
from textual.widgets import DataTable, Static

from lighting.model import FaultKind
from lighting.tui import Dashboard
from lighting.tui.app import StatusLine
from lighting.tui.dialogs import ConfirmDialog, OverrideDialog
from lighting.tui.lamp import LampPane
from tests.tui.conftest import LAMPS, WAIT_S, City, screen_text, until


def cell(table: DataTable[object], row: str, column: str) -> str:
    return str(table.get_cell(row, column)).strip()


def has_row(table: DataTable[object], key: str) -> bool:
    return any(row.key.value == key for row in table.ordered_rows)


async def test_the_overview_shows_the_numbers_of_the_known_fleet(city: City) -> None:
    controller, sim = city
    await asyncio.gather(*(node.send_report() for node in sim.nodes.values()))
    app = Dashboard(controller.settings.control.socket, by="night-shift")
    async with app.run_test(size=(100, 30)) as pilot:
        zones = app.query_one("#zones", DataTable)
        await until(
            pilot,
            lambda: has_row(zones, "(city)") and cell(zones, "(city)", "lit") == str(LAMPS),
            "every lamp lit in the overview",
        )
        for zone in controller.settings.zones:
            lamps = [node for node in sim.nodes.values() if node.spec.zone == zone]
            assert cell(zones, zone, "lamps") == str(len(lamps))
            assert cell(zones, zone, "lit") == str(len(lamps))
            assert cell(zones, zone, "silent") == "0"
            assert cell(zones, zone, "faults") == "-"
            power = sum(entry.power_w or 0.0 for entry in controller.registry.in_zone(zone))
            assert abs(float(cell(zones, zone, "power")) - power / 1000) <= 0.01
        for zone, level in (("centre", "60 %"), ("north", "40 %"), ("harbour", "60 %")):
            assert (cell(zones, zone, "level"), cell(zones, zone, "plan")) == (level, level)
        assert cell(zones, "(city)", "lamps") == str(LAMPS)
        status = app.query_one(StatusLine)
        assert status.has_class("-connected")
        # The city's clock comes with the next tick of the dashboard, not with the overview.
        await until(pilot, lambda: "Weifang 23:3" in screen_text(app), "the city's clock")


async def test_an_override_typed_in_the_dashboard_reaches_the_lamps(city: City) -> None:
    controller, sim = city
    centre = [node for node in sim.nodes.values() if node.spec.zone == "centre"]
    north = [node for node in sim.nodes.values() if node.spec.zone == "north"]
    app = Dashboard(controller.settings.control.socket, by="duty-officer")
    async with app.run_test(size=(100, 30)) as pilot:
        zones = app.query_one("#zones", DataTable)
        await until(pilot, lambda: has_row(zones, "centre"), "the zones shown")
        await pilot.press("1", "o")  # the cursor is on the first zone: centre
        await until(pilot, lambda: isinstance(app.screen, OverrideDialog), "the dialog")
        await pilot.press("9", "0", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        question = str(app.screen.query_one("#confirm-question", Static).render())
        assert question == "Override zone centre at 90 % for 30min, by duty-officer?"
        await pilot.press("y")
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(*(node.wait_level(90) for node in centre))
        assert {node.lamp.level for node in north} == {40}
        stored = await controller.store.call(controller.repository.overrides)
        assert [(o.zone, o.level, o.by) for o in stored] == [("centre", 90, "duty-officer")]

        # Tonight shows it in force; x and y cancel it, and the zone goes back to its plan.
        overrides = app.query_one("#overrides", DataTable)
        await pilot.press("2")
        await until(pilot, lambda: overrides.row_count == 1, "the override in force")
        assert cell(overrides, str(stored[0].override_id), "by") == "duty-officer"
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(*(node.wait_level(60) for node in centre))
        await until(pilot, lambda: overrides.row_count == 0, "the override gone")


async def test_an_override_refused_by_the_daemon_is_told_not_raised(
    city: City, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lighting.tui")
    controller, _ = city
    app = Dashboard(controller.settings.control.socket, by="duty-officer")
    async with app.run_test(size=(100, 30)) as pilot:
        zones = app.query_one("#zones", DataTable)
        await until(pilot, lambda: has_row(zones, "centre"), "the zones shown")
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OverrideDialog), "the dialog")
        # The dialog reads the fields first: a duration without a unit it knows stays there.
        await pilot.press("5", "0", "tab", "1", "4", "d", "enter")
        problem = app.screen.query_one("#override-problem", Static)
        await until(pilot, lambda: "units" in str(problem.render()), "what is wrong")
        assert isinstance(app.screen, OverrideDialog)
        # 200 hours reads well, but the daemon holds a zone for 7 days at most.
        await pilot.press(*["backspace"] * 3, "2", "0", "0", "h", "enter", "y")
        await until(pilot, lambda: "at most 7 days" in caplog.text, "the refusal told")
        assert "told the operator: Override:" in caplog.text
        assert await controller.store.call(controller.repository.overrides) == []
        assert len(app.screen_stack) == 1
        assert app.is_running


async def test_a_fault_injected_in_the_city_appears_and_is_acknowledged(city: City) -> None:
    controller, sim = city
    lamp_id = next(iter(sim.nodes))
    app = Dashboard(controller.settings.control.socket, by="night-shift")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.query_one(StatusLine).has_class("-connected"), "connected")
        await pilot.press("3")
        feed = app.query_one("#feed", DataTable)
        sim.inject(lamp_id, FaultKind.LAMP_FAILURE)
        await sim[lamp_id].send_report()
        await until(pilot, lambda: feed.row_count == 1, "the fault in the feed")
        key = feed.ordered_rows[0].key.value
        assert key is not None
        assert (cell(feed, key, "lamp"), cell(feed, key, "kind")) == (lamp_id, "lamp-failure")
        assert cell(feed, key, "status") == "open"
        fault_id = int(cell(feed, key, "id"))

        await pilot.press("a")
        await until(pilot, lambda: cell(feed, key, "status") == "acknowledged", "acknowledged")
        assert cell(feed, key, "by") == "night-shift"
        stored = await controller.store.call(controller.repository.fault, fault_id)
        assert (stored.status, stored.acknowledged_by) == ("acknowledged", "night-shift")

        # The overview counts it with its severity (lamp failure: major).
        zone = sim[lamp_id].spec.zone
        zones = app.query_one("#zones", DataTable)
        await until(pilot, lambda: cell(zones, zone, "faults") == "1M", "counted in the city")


async def test_a_lamp_is_found_by_its_id_with_its_commands(
    city: City, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lighting.tui")
    controller, sim = city
    lamp_id = sorted(sim.nodes)[-1]
    await sim[lamp_id].send_report()
    app = Dashboard(controller.settings.control.socket, by="night-shift")
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.query_one(StatusLine).has_class("-connected"), "connected")
        await pilot.press("slash", *"nope", "enter")
        await until(pilot, lambda: "no lamp" in caplog.text, "the refusal told")
        pane = app.query_one(LampPane)
        assert pane.lamp is None
        await pilot.press("slash", *lamp_id, "enter")
        await until(pilot, lambda: pane.lamp is not None, "the lamp shown")
        assert pane.lamp is not None
        assert pane.lamp.lamp_id == lamp_id
        commands = app.query_one("#lamp-commands", DataTable)
        first = commands.ordered_rows[0].key.value
        assert first is not None
        assert cell(commands, first, "outcome") == "acknowledged"
        text = screen_text(app)
        assert f"zone {sim[lamp_id].spec.zone}" in text
        assert "Level tonight" in text
