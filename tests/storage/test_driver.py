"""Rows written many at a time (``DriverStyle.insert`` and ``update``), on both databases:
statements of many rows on SQLite, ``executemany`` on PostgreSQL, the same rows either way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from lighting.storage import Repository
from lighting.storage.base import ROWS_PER_STATEMENT


def _rows(repo: Repository) -> dict[str, tuple[Any, ...]]:
    with repo.engine.connect() as connection:
        found = connection.execute(text("SELECT k, n, v FROM bulk ORDER BY k"))
        return {k: (n, v) for k, n, v in found}


def _table(repo: Repository) -> None:
    with repo.engine.begin() as connection:
        connection.execute(text("CREATE TABLE bulk (k VARCHAR(16) PRIMARY KEY, n INT, v TEXT)"))


def test_many_rows_are_inserted_across_statements(repo: Repository) -> None:
    _table(repo)
    count = ROWS_PER_STATEMENT * 2 + 7
    rows = [(f"k{i:05d}", i, None if i % 3 else f"v{i}") for i in range(count)]
    with repo.engine.begin() as connection:
        repo.driver.insert(connection, "bulk", ("k", "n", "v"), rows)
        repo.driver.insert(connection, "bulk", ("k", "n", "v"), [])
    stored = _rows(repo)
    assert len(stored) == count
    assert stored["k00000"] == (0, "v0")
    assert stored[f"k{count - 1:05d}"] == (count - 1, None if (count - 1) % 3 else f"v{count - 1}")


def test_rows_are_updated_by_their_keys_and_the_last_of_a_key_counts(repo: Repository) -> None:
    _table(repo)
    with repo.engine.begin() as connection:
        repo.driver.insert(
            connection, "bulk", ("k", "n", "v"), [(f"k{i:05d}", i, "old") for i in range(1200)]
        )
    updates = [("new", i * 10, f"k{i:05d}") for i in range(0, 1200, 2)]
    updates.append(("newer", -1, "k00004"))  # the same key again: this one counts
    updates.append(("nobody", 0, "k99999"))  # no such row: nothing happens
    with repo.engine.begin() as connection:
        repo.driver.update(connection, "bulk", ("v", "n"), ("k",), updates)
    stored = _rows(repo)
    assert len(stored) == 1200
    assert stored["k00002"] == (20, "new")
    assert stored["k00004"] == (-1, "newer")
    assert stored["k00003"] == (3, "old")
    assert "k99999" not in stored


def test_an_update_matches_every_key(repo: Repository) -> None:
    _table(repo)
    with repo.engine.begin() as connection:
        repo.driver.insert(connection, "bulk", ("k", "n", "v"), [("a", 1, "x"), ("b", 2, "x")])
        # Both keys must match: (a, 2) names no row.
        repo.driver.update(connection, "bulk", ("v",), ("k", "n"), [("y", "a", 2), ("z", "b", 2)])
    assert _rows(repo) == {"a": (1, "x"), "b": (2, "z")}
