"""``LiveTable``: a ``DataTable`` kept in step with live data without being rebuilt.

A panel gives the table its columns once, then tells it what to show (rows by key, in
order) as often as the daemon speaks; ``show`` changes only the cells that differ, adds
and removes rows, restores the order, and keeps the cursor on the row it was on, so that a
live table neither flickers nor moves what the operator is about to act on. The rows are
the operator's to move through (a row cursor); ``cursor_key`` tells which row is under it.

Each column is as wide as its widest cell (or its label), measured here when the rows are
given. ``DataTable`` can size columns by itself, but it does so later (when it is idle),
and a screen drawn in between keeps the narrower columns: cells cut short until something
else changes. When a column must grow or shrink, the table is drawn again from its rows
(which is rare: a row wider than all before it, or the widest one gone).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

Cell = Text
Columns = Sequence[tuple[str, str]]
"""Each column's key and its label, in order."""
Rows = Mapping[str, Sequence[Cell]]
"""Rows by key, in the order to show them; the first cell's text is unique in a table."""


def right(value: object, style: str = "") -> Cell:
    """A cell for a number (or a dash), right-aligned as numbers are in a column."""
    return Text(str(value), style=style, justify="right")


def widths(columns: Columns, rows: Rows) -> tuple[int, ...]:
    """Each column's width: its widest cell, or its label when that is wider."""
    found = [Text(label).cell_len for _, label in columns]
    for cells in rows.values():
        for index, cell in enumerate(cells):
            found[index] = max(found[index], cell.cell_len)
    return tuple(found)


class LiveTable(DataTable[Cell]):
    """A table of ``columns`` (key, label) with a row cursor, shown with ``show``."""

    def __init__(
        self, columns: Columns, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row")
        self._columns = tuple(columns)
        self._widths: tuple[int, ...] = ()

    def on_mount(self) -> None:
        self._draw({})

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor (None for an empty table)."""
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    @property
    def keys(self) -> list[str]:
        """The keys of the rows shown, top to bottom."""
        return [key for row in self.ordered_rows if (key := row.key.value) is not None]

    def show(self, rows: Rows) -> None:
        """Make the table show ``rows``, changing only what differs."""
        under_cursor = self.cursor_key
        if widths(self._columns, rows) != self._widths:
            self._draw(rows)
        else:
            self._update(rows)
        if under_cursor is not None and under_cursor in rows:
            index = self.get_row_index(under_cursor)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False, scroll=False)

    def _draw(self, rows: Rows) -> None:
        """The table drawn again: columns of the widths the rows need, then the rows."""
        self._widths = widths(self._columns, rows)
        self.clear(columns=True)
        for (key, label), width in zip(self._columns, self._widths, strict=True):
            self.add_column(label, width=width, key=key)
        for key, cells in rows.items():
            self.add_row(*cells, key=key)

    def _update(self, rows: Rows) -> None:
        """Only what changed, the columns' widths being right already."""
        shown = set(self.keys)
        columns = [column.key for column in self.ordered_columns]
        for key in shown - rows.keys():
            self.remove_row(key)
        added = False
        for key, cells in rows.items():
            if key not in shown:
                self.add_row(*cells, key=key)
                added = True
                continue
            for column, old, new in zip(columns, self.get_row(key), cells, strict=True):
                if old != new:
                    self.update_cell(key, column, new)
        if added or self.keys != list(rows):
            position = {str(cells[0]): index for index, cells in enumerate(rows.values())}
            self.sort(key=lambda cells: position.get(str(cells[0]), len(position)))
