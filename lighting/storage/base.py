"""The repository's foundation: the engine, its sessions, and the row-to-record mapping.

Every part of the repository (lamps and delivery, faults, energy) is a mixin on
``RepositoryBase``: each method is one transaction, and SQLAlchemy errors leave as
``StorageError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col, create_engine, select

from lighting.errors import StorageError
from lighting.storage.tables import LampRow, UTCDateTime

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as err:
        raise StorageError(f"cannot open database {url!r}: {err}") from err
    return engine


class _Keyed(Protocol):
    @property
    def id(self) -> int | None: ...


def row_id(row: _Keyed) -> int:
    if row.id is None:
        raise StorageError(f"{type(row).__name__} has no id: it was not flushed")
    return row.id


_Rec = TypeVar("_Rec", bound="DataclassInstance")


def to_record(cls: type[_Rec], row: object, **given: object) -> _Rec:
    """A record from a row: each field of the record from the row's attribute of that name,
    unless given."""
    values = {
        f.name: given[f.name] if f.name in given else getattr(row, f.name)
        for f in dataclasses.fields(cls)
    }
    return cls(**values)


class DriverStyle:
    """How the database driver takes statements sent to it directly (``exec_driver_sql``,
    the hot writes), so that such rows are stored exactly as the ORM stores them: its
    placeholder, and the conversion of a timestamp that the ORM would apply. Only our own
    table and column names go into such a statement's text: every value is bound.

    ``insert`` and ``update`` write many rows at once. PostgreSQL's driver takes them as
    one ``executemany`` (psycopg pipelines it). SQLite's driver would run ``executemany``
    as one statement a row, letting go of the GIL around each: with the event loop busy in
    the other thread, each row then waits for the loop to hand the GIL back (up to the
    interpreter's 5 ms switch interval). 10,000 lamp updates took 47 to 58 s that way next
    to a busy thread, against 0.15 s as statements of 500 rows (docs/performance.md). On
    SQLite they are statements of many rows: ``INSERT ... VALUES (...), (...)`` and
    ``WITH v AS (VALUES ...) UPDATE ... FROM v`` (SQLite 3.33 or later)."""

    def __init__(self, dialect: Dialect) -> None:
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        processor = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        self.timestamp: Callable[[datetime], Any] = processor or (lambda value: value)
        self.many_rows = dialect.name == "sqlite" and _sqlite_version(dialect) >= (3, 33)
        """Rows go as statements of many rows (SQLite with UPDATE ... FROM), not
        ``executemany``."""

    def marks(self, count: int) -> str:
        """``count`` placeholders, comma-separated."""
        return ", ".join([self.mark] * count)

    def assignments(self, columns: Sequence[str]) -> str:
        """``a = ?, b = ?`` for an UPDATE."""
        return ", ".join(f"{name} = {self.mark}" for name in columns)

    def insert(
        self,
        connection: Connection,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Insert ``rows`` (values in the order of ``columns``)."""
        if not rows:
            return
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608
        row = f"({self.marks(len(columns))})"
        if not self.many_rows:
            connection.exec_driver_sql(head + row, list(rows))
            return
        for chunk in chunks(rows, _rows_per_statement(len(columns))):
            values = ", ".join([row] * len(chunk))
            connection.exec_driver_sql(head + values, tuple(chain.from_iterable(chunk)))

    def update(
        self,
        connection: Connection,
        table: str,
        columns: Sequence[str],
        keys: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Set ``columns`` in the row of ``table`` that matches ``keys``, for each of
        ``rows``: the new values, then the keys' values. Of rows with the same keys, the
        last one counts, as it would in a row-by-row update."""
        if not rows:
            return
        if not self.many_rows:
            where = " AND ".join(f"{key} = {self.mark}" for key in keys)
            connection.exec_driver_sql(
                f"UPDATE {table} SET {self.assignments(columns)} WHERE {where}",  # noqa: S608
                list(rows),
            )
            return
        width = len(columns)
        unique = list({tuple(row[width:]): row for row in rows}.values())
        names = ", ".join(f"c{i}" for i in range(width + len(keys)))
        sets = ", ".join(f"{name} = v.c{i}" for i, name in enumerate(columns))
        where = " AND ".join(f"{table}.{key} = v.c{width + i}" for i, key in enumerate(keys))
        row = f"({self.marks(width + len(keys))})"
        for chunk in chunks(unique, _rows_per_statement(width + len(keys))):
            connection.exec_driver_sql(
                f"WITH v({names}) AS (VALUES {', '.join([row] * len(chunk))}) "  # noqa: S608
                f"UPDATE {table} SET {sets} FROM v WHERE {where}",
                tuple(chain.from_iterable(chunk)),
            )


def _sqlite_version(dialect: Dialect) -> tuple[int, ...]:
    dbapi = getattr(dialect, "dbapi", None) or getattr(dialect, "loaded_dbapi", None)
    version = getattr(dbapi, "sqlite_version_info", (0,))
    return tuple(version)


ROWS_PER_STATEMENT = 500
"""Rows in one statement of many rows (SQLite binds at most 32,766 parameters in one)."""


def _rows_per_statement(width: int) -> int:
    return max(1, min(ROWS_PER_STATEMENT, 32_766 // width))


IN_CHUNK = 500
"""Values in one ``IN (...)`` list: SQLite binds at most 32,766 parameters a statement."""
_T = TypeVar("_T")


def chunks(values: Sequence[_T], size: int = IN_CHUNK) -> Iterator[Sequence[_T]]:
    """``values`` in slices of ``size`` (for ``IN`` lists)."""
    for at in range(0, len(values), size):
        yield values[at : at + size]


class RepositoryBase:
    """The engine and its transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.driver = DriverStyle(engine.dialect)

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> Self:
        repo = cls(make_engine(url))
        if create:
            repo.create_schema()
        return repo

    @classmethod
    def open_existing(cls, url: str) -> Self:
        """Open a database that the controller has already set up; never create one (a
        mistyped path must not become an empty database that shows nothing wrong)."""
        parsed = make_url(url)
        path = parsed.database if parsed.get_backend_name() == "sqlite" else None
        if path not in (None, "", ":memory:") and not Path(str(path)).exists():
            raise StorageError(f"{url} is not a citylight database (no such file): check --db")
        repo = cls(make_engine(url))
        try:
            present = inspect(repo.engine).has_table(LampRow.__tablename__)
        except SQLAlchemyError as err:
            repo.close()
            raise StorageError(f"cannot open database {url!r}: {err}") from err
        if not present:
            repo.close()
            raise StorageError(f"{url} is not a citylight database (no lamp table): check --db")
        return repo

    def create_schema(self) -> None:
        try:
            SQLModel.metadata.create_all(self.engine)
        except SQLAlchemyError as err:
            raise StorageError(f"cannot create the schema: {err}") from err

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """A round trip to the database (``StorageError`` if it does not answer)."""
        with self._session() as s:
            s.execute(text("SELECT 1"))

    @staticmethod
    def _lamp_rows(s: Session, lamp_ids: Sequence[str]) -> dict[str, LampRow]:
        """The lamps of ``lamp_ids`` that the record has, by id."""
        rows: dict[str, LampRow] = {}
        for chunk in chunks(list(dict.fromkeys(lamp_ids))):
            rows.update(
                (row.lamp_id, row)
                for row in s.exec(select(LampRow).where(col(LampRow.lamp_id).in_(chunk)))
            )
        return rows

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as err:
            raise StorageError(f"database error: {err}") from err
