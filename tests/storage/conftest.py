"""The repository on real databases: SQLite always, PostgreSQL when the server is reachable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lighting.storage import Repository


@pytest.fixture(params=["sqlite", "postgres"])
def repo(request: pytest.FixtureRequest, db_url: str) -> Iterator[Repository]:
    url = db_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    repository = Repository.open(url)
    yield repository
    repository.close()
