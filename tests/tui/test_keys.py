"""Keyboard first: every panel and every action has a key, the footer shows the keys of
what is on the screen (the panel shown, a dialog), and docs/dashboard.md lists them all.

What is expected is read from the bindings themselves, so a key added without being shown
or documented fails here.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from itertools import groupby
from pathlib import Path

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import format_key

from lighting.tui import Dashboard
from lighting.tui.app import StatusLine
from lighting.tui.dialogs import ConfirmDialog, Field, OverrideDialog
from lighting.tui.energy import EnergyPane
from lighting.tui.faults import FaultsPane
from lighting.tui.lamp import LampPane
from lighting.tui.overview import CityPane
from lighting.tui.tonight import TonightPane
from tests.tui.conftest import SOCKET, City, footer_text, in_footer, until

DOCS = Path(__file__).parents[2] / "docs" / "dashboard.md"
PANELS: dict[str, type[DOMNode]] = {
    "city": CityPane,
    "tonight": TonightPane,
    "faults": FaultsPane,
    "lamp": LampPane,
    "delivery": DOMNode,  # no keys of its own
    "energy": EnergyPane,
}
WHERE: list[tuple[type[DOMNode], str]] = [
    (Dashboard, "everywhere"),
    (TonightPane, "Tonight"),
    (FaultsPane, "Faults"),
    (LampPane, "Lamp"),
    (EnergyPane, "Energy"),
    (Field, "override dialog"),
    (OverrideDialog, "override dialog"),
    (ConfirmDialog, "confirmation"),
]
"""Each class with keys of its own, and where the docs say they work."""
ONLY_IN_A_FIELD = "leave"
"""The app's action shown only while a field takes the keys (Escape hands them back)."""


def bindings(node: type[DOMNode]) -> list[Binding]:
    return [b for b in node.BINDINGS if isinstance(b, Binding)]


def display(binding: Binding) -> str:
    """The key as the footer shows it (none of ours has a modifier)."""
    modifiers, key = binding.parse_key()
    assert not modifiers, binding
    return binding.key_display or format_key(key)


def labels(shown: Iterable[Binding]) -> list[str]:
    """What the footer shows for these bindings: ``a Acknowledge``, or a group's keys and
    its name (``zkst Filter``)."""
    found = []
    for group, members in groupby((b for b in shown if b.show), key=lambda b: b.group):
        items = list(members)
        if group is not None and len(items) > 1:
            separator = "" if group.compact else " "
            found.append(separator.join(display(b) for b in items) + f" {group.description}")
        else:
            found += [f"{display(b)} {b.description}" for b in items]
    return found


def test_every_action_has_a_key_shown() -> None:
    for node, _ in WHERE:
        actions = {b.action for b in bindings(node)}
        hidden = actions - {b.action for b in bindings(node) if b.show}
        assert not hidden, f"{node.__name__}: actions without a key in the footer: {hidden}"


def test_the_docs_list_every_key_where_it_works() -> None:
    text = DOCS.read_text("utf-8")
    table = text.split("<!-- keys:start -->")[1].split("<!-- keys:end -->")[0]
    rows = [row.split("|") for row in table.strip().splitlines()[2:]]
    documented = {(cells[1].strip(), cells[2].strip()) for cells in rows}
    expected = {(f"`{display(b)}`", where) for node, where in WHERE for b in bindings(node)}
    assert documented == expected


async def test_the_footer_shows_the_keys_of_each_panel_and_dialog(fixed_city: City) -> None:
    app = Dashboard(SOCKET, by="night-shift")
    everywhere = [b for b in bindings(Dashboard) if b.action != ONLY_IN_A_FIELD]
    back = labels(b for b in bindings(Dashboard) if b.action == ONLY_IN_A_FIELD)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.query_one(StatusLine).has_class("-connected"), "connected")
        app.clear_notifications()  # the toast of the connection covers the footer's end
        for key, (panel, node) in zip("123456", PANELS.items(), strict=True):
            await pilot.press(key)
            expected = [*labels(bindings(node)), *labels(everywhere)]
            await until(
                pilot,
                partial(in_footer, app, expected),
                f"the keys of {panel} in its footer: {expected}",
            )
            assert app.active == panel
            assert not any(label in footer_text(app) for label in back)

        # Typing in the lamp search: Escape hands the keys back, and the footer says so.
        await pilot.press("slash")
        await until(pilot, partial(in_footer, app, back), "esc in the footer")
        await pilot.press("escape")
        await until(pilot, lambda: not any(b in footer_text(app) for b in back), "esc gone")
        await pilot.press("3")
        await until(pilot, lambda: app.active == "faults", "the keys work again")

        # The override dialog and its confirmation show their own keys.
        await pilot.press("1", "o")
        await until(pilot, lambda: isinstance(app.screen, OverrideDialog), "the dialog")
        dialog = [*labels(bindings(Field)), *labels(bindings(OverrideDialog))]
        await until(pilot, partial(in_footer, app, dialog), f"the dialog's keys: {dialog}")
        await pilot.press("5", "0", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        confirm = labels(bindings(ConfirmDialog))
        await until(pilot, partial(in_footer, app, confirm), f"the confirmation's: {confirm}")
        await pilot.press("n")
        await until(pilot, lambda: len(app.screen_stack) == 1, "back to the panels")
