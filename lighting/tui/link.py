"""The dashboard's line to the daemon: wait for it, follow it, and reconnect when it goes.

``Link.run`` is the dashboard's one long-lived worker. It connects through ``ControlClient``
(waiting for a daemon started later), says ``hello``, subscribes to the notices, and then,
until the daemon goes away, does two things at once:

- it takes a snapshot of the city at least every ``refresh_s`` seconds, and sooner (after a
  short ``debounce_s``, so that a burst of notices costs one snapshot) when notices arrive;
- it passes the notices on in batches: faults and incidents for the feed, and a word when
  the lamp the operator is looking at (``watched``) speaks.

Everything it learns goes up as messages (``lighting.tui.messages``); it never touches a
widget. Orders do not go through here: the app uses ``client`` while it is connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from textual.message import Message

from lighting.client import ControlClient, NoDaemonError, RefusedError
from lighting.notices import FaultNotice, IncidentNotice, LampNotice, Notice
from lighting.tui.messages import (
    CityUpdated,
    Connected,
    LampSpoke,
    Lost,
    NoticesArrived,
    Waiting,
)

log = logging.getLogger(__name__)

REFRESH_S = 1.0
DEBOUNCE_S = 0.3
FIRST_PAUSE_S = 0.2
LONGEST_PAUSE_S = 5.0
MAX_BATCH = 5000
"""Notices taken at once before the batch goes up (the rest follow in the next)."""


async def _any(events: tuple[asyncio.Event, ...], within_s: float) -> None:
    """Return when one of ``events`` is set or after ``within_s`` seconds."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class Link:
    """The connection to the daemon at ``path``, for as long as the dashboard runs."""

    def __init__(
        self,
        path: Path,
        post: Callable[[Message], object],
        *,
        refresh_s: float = REFRESH_S,
        debounce_s: float = DEBOUNCE_S,
    ) -> None:
        self.path = path
        self.client: ControlClient | None = None
        """The client while connected (None while waiting)."""
        self.watched: str | None = None
        """The lamp whose reports the app wants to hear of."""
        self._post = post
        self._refresh_s = refresh_s
        self._debounce_s = debounce_s
        self._dirty = asyncio.Event()

    async def run(self) -> None:
        """Connect, follow, reconnect; until cancelled."""
        pause = FIRST_PAUSE_S
        self._post(Waiting(str(self.path)))
        while True:
            client = ControlClient(self.path)
            try:
                await client.connect(wait_s=None)
                hello = await client.hello()
                await client.subscribe()
            except (NoDaemonError, RefusedError) as err:
                await client.close()
                log.info("the daemon at %s does not answer: %s", self.path, err)
                self._post(Waiting(str(self.path), str(err)))
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE_S)
                continue
            pause = FIRST_PAUSE_S
            self.client = client
            self._post(Connected(str(self.path), str(hello.get("site", "")), hello.get("lamps", 0)))
            log.info("connected to the daemon at %s", self.path)
            reason = ""
            try:
                await self._follow(client)
            except NoDaemonError as err:
                reason = str(err)
            finally:
                self.client = None
                await client.close()
            log.info("lost the daemon at %s: %s", self.path, reason or "it closed the connection")
            self._post(Lost(str(self.path), reason))

    async def _follow(self, client: ControlClient) -> None:
        """Snapshots and notices until the connection ends."""
        refreshing = asyncio.create_task(self._refresh(client), name="dashboard refresh")
        try:
            await self._notices(client)
        finally:
            refreshing.cancel()
            await asyncio.gather(refreshing, return_exceptions=True)

    async def _refresh(self, client: ControlClient) -> None:
        while not client.lost.is_set():
            self._dirty.clear()
            try:
                view = await client.snapshot()
            except RefusedError as err:
                log.warning("the daemon could not give the city: %s", err)
            except NoDaemonError:
                return
            else:
                self._post(CityUpdated(view))
            await _any((self._dirty, client.lost), self._refresh_s)
            if self._dirty.is_set():
                await _any((client.lost,), self._debounce_s)

    async def _notices(self, client: ControlClient) -> None:
        async for notice in client.notices():
            batch: list[Notice] = [notice]
            while len(batch) < MAX_BATCH and (more := client.notice_nowait()) is not None:
                batch.append(more)
            self._take(batch)

    def _take(self, batch: list[Notice]) -> None:
        faults = tuple(n for n in batch if isinstance(n, FaultNotice))
        incidents = tuple(n for n in batch if isinstance(n, IncidentNotice))
        if faults or incidents:
            self._post(NoticesArrived(faults, incidents))
        watched = self.watched
        if watched is not None and any(
            isinstance(n, LampNotice | FaultNotice) and n.lamp_id == watched for n in batch
        ):
            self._post(LampSpoke(watched))
        self._dirty.set()
