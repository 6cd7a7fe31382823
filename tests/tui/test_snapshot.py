"""The main screen, the same every run: its text compared with a stored snapshot.

The daemon's clock stands still at 23:30 in Weifang over a fixed fleet (``fixed_city``: 12
lamps, the same seed, each at its planned level and reported); the dashboard takes its time
only from the daemon's snapshots and is given the socket by a name relative to the test's
directory. Nothing on the screen then depends on when or where the test runs. The toast
that greets the connection goes after 5 s: it is cleared before the screen is read.

The snapshots are ``tests/tui/snapshots/*.txt``: the screen's lines as a terminal shows them
(colours aside), without trailing spaces. When the screen changes on purpose, write them
again, read the change with ``git diff tests/tui/snapshots``, and commit it with the code::

    CITYLIGHT_UPDATE_SNAPSHOTS=1 .venv/bin/pytest -p no:cacheprovider tests/tui/test_snapshot.py

A run that writes them skips these tests (it checks nothing).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from textual.pilot import Pilot

from lighting.tui import Dashboard
from lighting.tui.app import StatusLine
from tests.tui.conftest import LAMPS, SOCKET, WAIT_S, City, screen_text, until

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("CITYLIGHT_UPDATE_SNAPSHOTS") == "1"


def plain(screen: str) -> str:
    """The screen as stored: each line without trailing spaces, a newline at the end."""
    return "".join(line.rstrip() + "\n" for line in screen.splitlines())


def difference(expected: str, screen: str, name: str) -> str:
    """What changed between the snapshot ``expected`` and ``screen`` (empty: nothing)."""
    lines = difflib.unified_diff(
        expected.splitlines(),
        plain(screen).splitlines(),
        fromfile=f"snapshots/{name}",
        tofile="the screen",
        lineterm="",
    )
    return "\n".join(lines)


async def settled(pilot: Pilot[None], app: Dashboard) -> None:
    """Wait until the dashboard shows the whole fixed city and has nothing left to ask."""
    await until(pilot, lambda: app.query_one(StatusLine).has_class("-connected"), "connected")
    await until(
        pilot,
        lambda: app.city is not None and app.city.lit == LAMPS,
        "every lamp lit in the city shown",
    )
    await until(
        pilot,
        lambda: not [w for w in app.workers if w.group != "link" and w.is_running],
        "the requests answered",
    )
    app.clear_notifications()


async def check_snapshot(pilot: Pilot[None], app: Dashboard, name: str) -> None:
    """The screen is the snapshot ``name`` (waiting up to ``WAIT_S`` for the last redraw);
    or, with ``CITYLIGHT_UPDATE_SNAPSHOTS=1``, becomes it."""
    await settled(pilot, app)
    path = SNAPSHOTS / name
    if UPDATE:
        await pilot.pause()
        path.parent.mkdir(exist_ok=True)
        path.write_text(plain(screen_text(app)), encoding="utf-8")
        pytest.skip(f"wrote {path}: read it with git diff")
    expected = path.read_text(encoding="utf-8")
    try:
        await until(pilot, lambda: plain(screen_text(app)) == expected, f"the screen {name}")
    except AssertionError:
        diff = difference(expected, screen_text(app), name)
        raise AssertionError(
            f"the screen is not the snapshot {name} (within {WAIT_S} s):\n{diff}\n"
            "If the change is meant, run with CITYLIGHT_UPDATE_SNAPSHOTS=1 and read "
            "git diff tests/tui/snapshots."
        ) from None


@pytest.mark.parametrize(
    ("size", "name"),
    [((80, 24), "city-80x24.txt"), ((160, 40), "city-160x40.txt")],
    ids=["80x24", "160x40"],
)
async def test_the_main_screen_is_the_snapshot(
    fixed_city: City, size: tuple[int, int], name: str
) -> None:
    app = Dashboard(SOCKET, by="night-shift")
    async with app.run_test(size=size) as pilot:
        await check_snapshot(pilot, app, name)


def test_a_changed_screen_is_told_with_what_changed() -> None:
    """The comparison sees one changed figure and shows it, and only it."""
    stored = (SNAPSHOTS / "city-80x24.txt").read_text(encoding="utf-8")
    assert "12 lamps, 12 lit" in stored
    assert difference(stored, stored, "city-80x24.txt") == ""
    changed = stored.replace("12 lamps, 12 lit", "12 lamps, 11 lit")
    diff = difference(stored, changed, "city-80x24.txt").splitlines()
    assert [line for line in diff if line.startswith(("-", "+"))] == [
        "--- snapshots/city-80x24.txt",
        "+++ the screen",
        *(f"-{line}" for line in stored.splitlines() if "12 lit" in line),
        *(f"+{line}" for line in changed.splitlines() if "11 lit" in line),
    ]
    # Trailing spaces are not a change (the stored lines have none).
    assert difference(stored, stored.replace("\n", "   \n"), "city-80x24.txt") == ""
