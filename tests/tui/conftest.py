"""The dashboard's fixtures: a real daemon with its control socket and a simulated city of
real CoAP lamps on a private loopback range, as ``tests/controller/test_control.py`` has
them; and the helpers to wait on the dashboard and read its screen.

The daemon's clock starts at a fixed instant (23:30 in Weifang: the main roads at 60 %, the
residential zone at 40 %), so the plan in force is known. ``city`` lets that clock run at
the real pace; ``fixed_city`` stops it there, with every lamp at its level and reported,
so that everything the dashboard shows is the same every run (the dashboard has no clock
of its own: its time is the daemon's, from each snapshot).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

from lighting.config import Settings
from lighting.controller import Controller
from simulator import Simulator, build_fleet
from tests.conftest import make_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 24, 23, 30, tzinfo=SHANGHAI)
LAMPS = 12
LEVELS = {"centre": 60, "north": 40, "harbour": 60}
"""Each zone's level in force at ``START``."""
SOCKET = "c.sock"
"""The control socket's name in the test's directory."""
WAIT_S = 20

City = tuple[Controller, Simulator]


def running_from(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``start`` and runs at the real pace."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def stopped_at(instant: datetime) -> Callable[[], datetime]:
    """A clock that always says ``instant``."""
    return lambda: instant


@pytest.fixture
def control_settings(db_url: str, coap_port: int, tmp_path: Path) -> Settings:
    return make_settings(
        db_url,
        coap_port,
        delivery={"concurrency": 32, "jitter_s": 0.05},
        control={"socket": str(tmp_path / SOCKET)},
    )


@asynccontextmanager
async def open_city(
    settings: Settings, lamp_base: str, clock: Callable[[], datetime]
) -> AsyncIterator[City]:
    """A running daemon with its plan in force on a registered fleet of ``LAMPS`` lamps."""
    async with Controller(settings, clock=clock) as controller:
        specs = build_fleet(
            LAMPS, zones=list(settings.zones), base_address=lamp_base, port=settings.coap.port
        )
        async with Simulator(specs, controller.address) as sim:
            async with asyncio.timeout(WAIT_S):
                await sim.wait_registered()
            await controller.apply_plan(controller.clock())
            yield controller, sim


@pytest.fixture
async def city(control_settings: Settings, lamp_base: str) -> AsyncIterator[City]:
    """The city with its clock running from ``START``."""
    async with open_city(control_settings, lamp_base, running_from(START)) as found:
        yield found


@pytest.fixture
async def fixed_city(
    control_settings: Settings,
    lamp_base: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[City]:
    """The city at ``START`` for as long as the test lasts: every lamp has its level and has
    reported it. The test runs in the socket's directory, so that a dashboard given
    ``SOCKET`` shows the same path (in its status line) every run."""
    monkeypatch.chdir(tmp_path)
    async with open_city(control_settings, lamp_base, stopped_at(START)) as (controller, sim):
        async with asyncio.timeout(WAIT_S):
            await asyncio.gather(
                *(node.wait_level(LEVELS[node.spec.zone]) for node in sim.nodes.values())
            )
            await asyncio.gather(*(node.send_report() for node in sim.nodes.values()))
        yield controller, sim


async def until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the dashboard run until ``condition`` holds; fail after ``WAIT_S`` seconds."""
    try:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                await pilot.pause(0.02)
    except TimeoutError:
        raise AssertionError(f"not within {WAIT_S} s: {what}") from None


def screen_text(app: App[None]) -> str:
    """The screen as plain text, line by line, as a terminal of the app's size shows it."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, color_system=None
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


def footer_text(app: App[None]) -> str:
    """The screen's last line (the footer of keys), without the spaces around it."""
    return screen_text(app).splitlines()[-1].strip()


def on_screen(app: App[None], lines: Sequence[str]) -> bool:
    """Whether each of ``lines`` (or a part of a line) is on the screen."""
    text = screen_text(app)
    return all(line in text for line in lines)


def in_footer(app: App[None], labels: Sequence[str]) -> bool:
    """Whether the footer shows each of ``labels`` (``a Acknowledge``)."""
    footer = footer_text(app)
    return all(label in footer for label in labels)
