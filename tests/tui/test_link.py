"""The dashboard and the daemon's comings and goings: started first, it waits for the daemon;
when the daemon stops, it says so, keeps the last figures with their time, and follows the
daemon again when it comes back. Orders given meanwhile are refused with the reason."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lighting.config import Settings
from lighting.controller import Controller
from lighting.tui import Dashboard
from lighting.tui.app import StatusLine
from lighting.tui.dialogs import ConfirmDialog, OverrideDialog
from tests.tui.conftest import SOCKET, START, screen_text, stopped_at, until


def status(app: Dashboard) -> str:
    return screen_text(app).splitlines()[0].strip()


async def test_the_dashboard_waits_for_the_daemon_and_follows_it_back(
    control_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="lighting.tui")
    monkeypatch.chdir(tmp_path)
    app = Dashboard(SOCKET, by="night-shift")
    async with app.run_test(size=(100, 30)) as pilot:
        line = app.query_one(StatusLine)
        waiting = f"waiting for the daemon at {SOCKET}"
        await until(
            pilot,
            lambda: status(app) == waiting and waiting in screen_text(app).splitlines()[3],
            "waiting, in the status line and where the city will be",
        )
        assert line.has_class("-waiting")

        async with Controller(control_settings, clock=stopped_at(START)):
            await until(pilot, lambda: line.has_class("-connected"), "connected")
            headline = " Weifang  0 lamps, 0 lit  0.00 kW now  0 open faults  0 incidents"
            connected = f"connected to the daemon of Weifang at {SOCKET}"
            await until(
                pilot,
                lambda: headline in screen_text(app) and status(app).startswith(connected),
                "the city",
            )
            assert "Connected to the daemon of Weifang (0 lamps)" in caplog.text

        await until(pilot, lambda: line.has_class("-lost"), "the daemon gone")
        lost = f"lost the daemon at {SOCKET}: reconnecting"
        await until(
            pilot,
            lambda: status(app).startswith(lost) and status(app).endswith("Weifang as of 23:30:00"),
            "lost in the status line, with the time of the figures",
        )
        assert headline in screen_text(app)  # the last figures stay, with their time
        assert "The daemon went away: reconnecting" in caplog.text

        # An order without a daemon goes nowhere, and the operator is told why.
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, OverrideDialog), "the dialog")
        await pilot.press("5", "0", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        refused = f"told the operator: Override: no daemon at {SOCKET}"
        await until(pilot, lambda: refused in caplog.text, "the order refused")

        async with Controller(control_settings, clock=stopped_at(START)):
            await until(pilot, lambda: line.has_class("-connected"), "connected again")
            assert not line.has_class("-lost")
            await until(
                pilot,
                lambda: (
                    status(app).startswith(connected) and status(app).endswith("Weifang 23:30:00")
                ),
                "connected in the status line, with the time",
            )
