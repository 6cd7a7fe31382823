"""The async face of the repository: every call runs on one database thread.

One thread keeps SQLite's single writer happy and keeps the event loop free; the CLI does
not need this and calls ``Repository`` directly.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import ParamSpec, Self, TypeVar

from lighting.storage.repository import Repository

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Store:
    """Runs ``Repository`` methods off the event loop, one at a time, in call order."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citylight-db")

    async def call(self, method: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(method, *args, **kwargs)
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._executor.shutdown, True)
        self.repository.close()
