"""The dashboard's dialogs: an override to fill in, and a yes-or-no confirmation.

Both are modal screens that return a value (``dismiss``): the app pushes them, waits for the
answer in a worker, and only then talks to the daemon. The override dialog checks what it
can (a level from 0 to 100, a duration with units) before anything is sent; the daemon
checks the rest (the zone or the lamp exists, at most seven days) and its refusal is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Select, Static
from textual.widgets.select import NoSelection

from schedules import ScheduleError, format_duration, parse_duration

DEFAULT_DURATION = "30min"


@dataclass(frozen=True, slots=True)
class OverrideOrder:
    """What the operator asked for, checked and ready to send."""

    level: int
    minutes: float
    zone: str | None = None
    lamp_id: str | None = None
    reason: str = ""

    @property
    def target(self) -> str:
        return f"zone {self.zone}" if self.zone is not None else f"lamp {self.lamp_id}"

    def describe(self) -> str:
        duration = format_duration(timedelta(minutes=self.minutes))
        return f"{self.target} at {self.level} % for {duration}"


def read_order(target: str, level: str, duration: str, reason: str) -> OverrideOrder | str:
    """The order from the dialog's fields, or what is wrong with them (a sentence)."""
    kind, _, name = target.partition(":")
    if kind not in ("zone", "lamp") or not name:
        return "choose a zone or a lamp"
    value = int(level) if level.strip().isdigit() else -1
    if not 0 <= value <= 100:
        return "the level is a whole number from 0 to 100"
    try:
        minutes = parse_duration(duration.strip()).total_seconds() / 60
    except ScheduleError as err:
        return str(err)
    if minutes <= 0:
        return "the duration is more than nothing"
    if kind == "zone":
        return OverrideOrder(value, minutes, zone=name, reason=reason.strip())
    return OverrideOrder(value, minutes, lamp_id=name, reason=reason.strip())


class Field(Input):
    """A field of the override dialog: Enter goes on (to the confirmation), as the footer
    says (a plain ``Input`` does it too, without saying so)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Override", key_display="enter")
    ]


class OverrideDialog(ModalScreen[OverrideOrder | None]):
    """Hold a zone or a lamp at a level for a while; Enter in any field to go on."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.focus_next", "Next field"),
        Binding("escape", "give_up", "Cancel"),
    ]

    def __init__(self, zones: tuple[str, ...], *, zone: str | None, lamp_id: str | None) -> None:
        super().__init__()
        self._targets = [(f"zone {z}", f"zone:{z}") for z in zones]
        if lamp_id is not None:
            self._targets.append((f"lamp {lamp_id}", f"lamp:{lamp_id}"))
        self._chosen = f"lamp:{lamp_id}" if lamp_id is not None else f"zone:{zone or ''}"
        if self._chosen not in {value for _, value in self._targets}:
            self._chosen = self._targets[0][1] if self._targets else ""

    def compose(self) -> ComposeResult:
        with Vertical(id="override-dialog", classes="dialog"):
            yield Static("Override", classes="title")
            yield Label("Hold")
            yield Select[str](
                self._targets,
                value=self._chosen or Select.NULL,
                prompt="zone or lamp",
                id="override-target",
                compact=True,
            )
            yield Label("at level (0-100 %)")
            yield Field(placeholder="e.g. 100", type="integer", id="override-level", compact=True)
            yield Label("for (30min, 2h, 1h30m)")
            yield Field(DEFAULT_DURATION, id="override-duration", compact=True)
            yield Label("reason (kept with it)")
            yield Field(placeholder="optional", id="override-reason", compact=True)
            yield Static(id="override-problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("Override", id="override-ok", variant="warning", compact=True)
                yield Button("Cancel", id="override-cancel", compact=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#override-level", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#override-ok")
    def _submit(self) -> None:
        target = self.query_one("#override-target", Select).value
        found = read_order(
            "" if isinstance(target, NoSelection) else str(target),
            self.query_one("#override-level", Input).value,
            self.query_one("#override-duration", Input).value,
            self.query_one("#override-reason", Input).value,
        )
        if isinstance(found, str):
            self.query_one("#override-problem", Static).update(found)
            return
        self.dismiss(found)

    @on(Button.Pressed, "#override-cancel")
    def action_give_up(self) -> None:
        self.dismiss(None)


class ConfirmDialog(ModalScreen[bool]):
    """A question answered with ``y`` or ``n`` (Escape is no)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(self._question, id="confirm-question", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="confirm-yes", variant="warning", compact=True)
                yield Button("No (n)", id="confirm-no", compact=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
