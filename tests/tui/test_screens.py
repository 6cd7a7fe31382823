"""The dashboard's screens at the smallest terminal it is made for (80x24) and at a large
one: in 80x24 every panel is reached by its key and shows its main content, with its keys in
the footer; a wide terminal gets more (the city's side column, taller plots).

The city is the fixed one (``fixed_city``), so the figures are known exactly.
"""

from __future__ import annotations

from functools import partial

from textual.widget import Widget

from lighting.model import FaultKind
from lighting.tui import Dashboard
from lighting.tui.app import StatusLine
from lighting.tui.lamp import LampPane
from tests.tui.conftest import SOCKET, City, footer_text, on_screen, screen_text, until

SCREENS = "123456 Screens o Override / Search q Quit"
"""The keys of every panel (after those of the panel shown)."""
PANELS = [
    (
        "2",
        "tonight",
        [
            "Sunset 16:49   Sunrise 06:50   night of 14 h 01 min, 7 h 20 min to go",
            " Zone     Program      Now   Next at  To    In",
            " centre   main-road    60 %  01:00    30 %  1 h 30 min",
            " north    residential  40 %  06:50     0 %  7 h 20 min",
            " Timeline",
            " Overrides in force",
            " Id  Target  Level  Until  Left  By  Reason",
        ],
        f"x Cancel override  {SCREENS}",
    ),
    (
        "3",
        "faults",
        [
            "any zone         ▼  any kind         ▼  any severity     ▼  any status       ▼",
            " Id  Time  Kind  Lamp  Zone  Status  N  By",
            " no fault",
        ],
        f"a Acknowledge l Lamp  zkst Filter  {SCREENS}",
    ),
    ("4", "lamp", [" lamp id, then Enter", " Search a lamp by its id (/)"], f"r Reload  {SCREENS}"),
    (
        "5",
        "delivery",
        [
            " Latest city-wide change: planned 23:30: centre 60 %, harbour 60 %, north 40 %",
            " 12 of 12 lamps have it, 0 pending, 0 failed, in 1 cell",
            " Cell       Lamps  Have it  Pending  Failed  Delivered",
            " cell-0001     12       12        0       0  ████████████████████ 100 %",
        ],
        SCREENS,
    ),
    (
        "6",
        "energy",
        [
            " Energy per night, the last 28 nights  no energy recorded yet",
            " Zone  Nights  kWh  Full kWh  Save  Last night",
        ],
        f"r Reload [ Fewer ] More  {SCREENS}",
    ),
    (
        "1",
        "city",
        [
            " Weifang  12 lamps, 12 lit  0.56 kW now  0 open faults  0 incidents",
            " Zone     Lamps  Lit  Level  Plan  Silent  Faults  kW    kWh  Save",
            " north        4    4   40 %  40 %       0  -       0.13  0.0     -",
            " (city)      12   12                    0  -       0.56  0.0     -",
        ],
        SCREENS,
    ),
]
"""Each panel's key, its name, lines of its main content, and its footer (80x24)."""


def footer_is(app: Dashboard, footer: str) -> bool:
    return footer_text(app) == footer


async def test_in_80x24_every_panel_is_reached_by_its_key_with_its_content_and_keys(
    fixed_city: City,
) -> None:
    app = Dashboard(SOCKET, by="night-shift")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.query_one(StatusLine).has_class("-connected"), "connected")
        first = " Weifang  12 lamps, 12 lit  0.56 kW now  0 open faults  0 incidents"
        await until(pilot, lambda: first in screen_text(app), "the city")
        app.clear_notifications()  # the toast of the connection covers the footer's end
        for key, panel, content, footer in PANELS:
            await pilot.press(key)
            await until(pilot, partial(on_screen, app, content), f"the {panel} panel's content")
            assert app.active == panel
            await until(pilot, partial(footer_is, app, footer), f"the {panel} footer")
            lines = screen_text(app).splitlines()
            assert len(lines) == 24
            assert all(len(line) <= 80 for line in lines)
            # The status line stays on every panel, with the daemon's time of the city.
            assert lines[0].rstrip().endswith("Weifang 23:30:00")

        # The lamp panel in 80x24: its state, both plots and its commands.
        await pilot.press("4", "slash", *"L00002", "enter")
        lamp = [
            " L00002  zone north, cell cell-0001, 120 W",
            " in contact, last heard 23:30:00   level 40 %   power 48.0 W",
            " Level tonight",
            "Power tonight",
            "acknowledged      1",
            "program residential",
        ]
        await until(pilot, lambda: on_screen(app, lamp), "the lamp shown")
        await until(pilot, lambda: footer_text(app) == f"r Reload  {SCREENS}", "its keys")
        # Energy: ] asks for a week more.
        await pilot.press("6", "right_square_bracket")
        await until(pilot, lambda: "the last 35 nights" in screen_text(app), "35 nights")


def side_column(app: Dashboard) -> Widget:
    return app.query_one("#city-side", Widget)


async def test_a_wide_terminal_gets_the_side_column_and_taller_plots(fixed_city: City) -> None:
    _, sim = fixed_city
    app = Dashboard(SOCKET, by="night-shift")
    async with app.run_test(size=(200, 60)) as pilot:
        await until(pilot, lambda: app.query_one(StatusLine).has_class("-connected"), "connected")
        coming = [
            "▏ Next changes",
            "▏ 01:00 centre to 30 % (in 1 h 30 min)",
            "▏ 01:00 harbour to 30 % (in 1 h 30 min)",
            "▏ 06:50 north to 0 % (in 7 h 20 min)",
            "▏ Latest faults",
            "▏ none",
        ]
        await until(pilot, lambda: on_screen(app, coming), "the side column")
        assert side_column(app).outer_size.width == 52

        # A fault in the city goes to the top of the side column as it happens.
        sim.inject("L00001", FaultKind.LAMP_FAILURE)
        await sim["L00001"].send_report()
        fault = "▏ 23:30 lamp-failure      L00001 (centre) open"
        await until(pilot, lambda: fault in screen_text(app), "the fault in the side column")
        counted = "12 lamps, 11 lit  0.53 kW now  1 open fault  0 incidents"
        await until(pilot, lambda: counted in screen_text(app), "counted in the headline")

        await pilot.press("4", "slash", *"L00001", "enter")
        pane = app.query_one(LampPane)
        await until(pilot, lambda: pane.lamp is not None, "the lamp shown")
        wide_plot = app.query_one("#lamp-level", Widget).size.height

        # The same dashboard narrowed to 80x24: no side column, shorter plots.
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: app.size == (80, 24), "the terminal resized")
        await until(pilot, lambda: not side_column(app).display, "the side column hidden")
        await until(
            pilot,
            lambda: app.query_one("#lamp-level", Widget).size.height < wide_plot,
            "the plots shorter",
        )
        await pilot.press("1")
        await until(pilot, lambda: " (city)      12   11" in screen_text(app), "the city")
        assert "Next changes" not in screen_text(app)
        assert "Latest faults" not in screen_text(app)
