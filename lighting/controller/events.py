"""The event hub: the controller's notices, fanned out to whoever listens.

Emitting never blocks and never fails: each listener has its own bounded queue, and a
listener that falls behind loses its oldest notices (counted) rather than holding up the
daemon. The MQTT publisher and the dashboard are listeners.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from lighting.metrics import Counters
from lighting.notices import Notice

log = logging.getLogger(__name__)


class Subscription:
    """One listener's queue of notices; iterate it, close it when done."""

    def __init__(self, hub: EventHub, name: str, maxsize: int) -> None:
        self.name = name
        self.dropped = 0
        self._hub = hub
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=maxsize)

    def _put(self, notice: Notice) -> bool:
        """Queue ``notice``; False if the oldest one had to make room."""
        dropped = False
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            dropped = True
        self._queue.put_nowait(notice)
        return not dropped

    async def get(self) -> Notice:
        return await self._queue.get()

    def get_nowait(self) -> Notice:
        """The oldest waiting notice; ``asyncio.QueueEmpty`` if there is none."""
        return self._queue.get_nowait()

    def pending(self) -> int:
        return self._queue.qsize()

    def __aiter__(self) -> AsyncIterator[Notice]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Notice]:
        while True:
            yield await self._queue.get()

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventHub:
    """Fans notices out to subscriptions."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._subscriptions: list[Subscription] = []
        self.emitted = 0

    def subscribe(self, name: str, maxsize: int = 10_000) -> Subscription:
        subscription = Subscription(self, name, maxsize)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def emit(self, notice: Notice) -> None:
        self.emitted += 1
        for subscription in self._subscriptions:
            if not subscription._put(notice):  # the hub owns its queues
                self._counters.incr(f"events.dropped.{subscription.name}")
                if subscription.dropped == 1:
                    log.warning(
                        "listener %s falls behind: its oldest notices are dropped",
                        subscription.name,
                    )
