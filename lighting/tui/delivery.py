"""Delivery: how far the latest city-wide change got, per NB-IoT cell: how many lamps have
it, how many are still pending, how many failed.

A cell where commands fail while its neighbours are fine points at the network (a base
station down), not at the lamps: this is the panel to see it in.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from lighting.overview import CellDelivery, CityView
from lighting.tui import format as fmt
from lighting.tui.table import Cell, LiveTable, right

COLUMNS = (
    ("cell", "Cell"),
    ("lamps", "Lamps"),
    ("have", "Have it"),
    ("pending", "Pending"),
    ("failed", "Failed"),
    ("share", "Delivered"),
)
BAR_WIDTH = 20


def _total(cell: CellDelivery) -> int:
    return cell.acknowledged + cell.pending + cell.failed


def cell_cells(cell: CellDelivery) -> tuple[Cell, ...]:
    total = _total(cell)
    share = cell.acknowledged / total if total else 0.0
    bar = fmt.bar(share, BAR_WIDTH)
    bar.append(f" {share * 100:3.0f} %")
    return (
        Text(cell.cell),
        right(total),
        right(cell.acknowledged),
        right(cell.pending, "yellow" if cell.pending else ""),
        right(cell.failed, "bold red" if cell.failed else ""),
        bar,
    )


def ordered(cells: tuple[CellDelivery, ...]) -> list[CellDelivery]:
    """Cells with failures first, then those still waiting, then by name."""
    return sorted(cells, key=lambda cell: (-cell.failed, -cell.pending, cell.cell))


def summary(view: CityView) -> Text:
    """The change, and the city's totals for it."""
    if not view.delivery_change:
        return Text("No change sent yet: nothing to deliver.", style="dim")
    have = sum(cell.acknowledged for cell in view.delivery)
    pending = sum(cell.pending for cell in view.delivery)
    failed = sum(cell.failed for cell in view.delivery)
    total = have + pending + failed
    text = Text()
    text.append("Latest city-wide change: ", style="bold")
    text.append(view.delivery_change + "\n")
    text.append(f"{have} of {total} lamps have it", style="green" if have == total else "")
    text.append(f", {pending} pending", style="yellow" if pending else "")
    text.append(f", {failed} failed", style="bold red" if failed else "")
    cells = len(view.delivery)
    text.append(f", in {fmt.count(cells, 'cell')}  ")
    text.append_text(fmt.bar(have / total if total else 0.0, BAR_WIDTH))
    return text


class DeliveryPane(Vertical):
    """Set ``city`` and the panel updates in place."""

    city: reactive[CityView | None] = reactive(None, always_update=True)

    def compose(self) -> ComposeResult:
        yield Static(id="delivery-summary")
        yield LiveTable(COLUMNS, id="cells")

    def focus_main(self) -> None:
        self.query_one("#cells", LiveTable).focus()

    def watch_city(self, view: CityView | None) -> None:
        if view is None:
            return
        self.query_one("#delivery-summary", Static).update(summary(view))
        self.query_one("#cells", LiveTable).show(
            {cell.cell: cell_cells(cell) for cell in ordered(view.delivery)}
        )
