"""The views' side of the control channel: ask the running daemon, hear its notices.

``ControlClient`` connects to the daemon's Unix socket (``[control] socket``), sends
requests and waits for their answers, and keeps the notices it is sent (after
``subscribe``) in a bounded queue of its own. A view started before the daemon waits for
it: ``connect(wait_s=...)`` tries again with a growing pause. When the daemon goes away,
every request waiting fails with ``NoDaemonError`` and ``lost`` is set; a view makes a
new client to reconnect. No storage, no transport: the dashboard and the CLI use only this.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from lighting.errors import LightingError, ProtocolError
from lighting.notices import FaultNotice, Notice
from lighting.overview import CityView, EnergyNight, LampView, OverrideView
from lighting.protocol.control import MAX_LINE, decode, encode, from_plain

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30.0
FIRST_PAUSE_S = 0.1
LONGEST_PAUSE_S = 5.0


class NoDaemonError(LightingError):
    """No daemon answers on the control socket (not started, stopped, or gone)."""


class RefusedError(LightingError):
    """The daemon refused a request; its reason is the message."""


class ControlClient:
    """One connection to the daemon (an async context manager)."""

    def __init__(self, path: Path | str, *, notice_buffer: int = 10_000) -> None:
        self.path = Path(path)
        self.lost = asyncio.Event()
        """Set when the connection ends (the daemon stopped, or ``close``)."""
        self.dropped = 0
        """Notices this client dropped because its view did not take them in time."""
        self._notices: asyncio.Queue[Notice] = asyncio.Queue(maxsize=notice_buffer)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._listening: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)

    # -- connection -----------------------------------------------------------------------

    async def connect(self, *, wait_s: float | None = 0.0) -> Self:
        """Connect, trying again for up to ``wait_s`` seconds (None: until it answers)."""
        loop = asyncio.get_running_loop()
        deadline = None if wait_s is None else loop.time() + wait_s
        pause = FIRST_PAUSE_S
        while True:
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(
                    self.path, limit=MAX_LINE + 1
                )
                break
            except (FileNotFoundError, ConnectionRefusedError) as err:
                if deadline is not None and loop.time() + pause > deadline:
                    raise NoDaemonError(
                        f"no daemon answers at {self.path} (is `lighting run` running?)"
                    ) from err
                log.debug("no daemon at %s yet; trying again in %.1f s", self.path, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE_S)
            except OSError as err:
                raise NoDaemonError(f"cannot reach the daemon at {self.path}: {err}") from err
        self.lost.clear()
        self._listening = asyncio.create_task(self._listen(), name="control client")
        return self

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
            self._listening = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
            self._writer = None
        self._fail_waiting("the connection was closed")
        self.lost.set()

    async def __aenter__(self) -> Self:
        if self._writer is None:
            await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _fail_waiting(self, why: str) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(NoDaemonError(why))
        self._waiting.clear()

    async def _listen(self) -> None:
        if self._reader is None:
            return
        try:
            while True:
                try:
                    line = await self._reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    break
                try:
                    self._take(decode(line))
                except ProtocolError as err:
                    log.warning("the daemon sent something unreadable: %s", err)
        except (ConnectionError, OSError, asyncio.LimitOverrunError) as err:
            log.info("control channel lost: %s", err)
        finally:
            self._fail_waiting("the daemon went away")
            self.lost.set()

    def _take(self, message: dict[str, Any]) -> None:
        if "notice" in message:
            notice = from_plain(message["notice"])
            if self._notices.full():
                self._notices.get_nowait()
                self.dropped += 1
            self._notices.put_nowait(notice)
            return
        future = self._waiting.pop(message.get("id", -1), None)
        if future is None or future.done():
            if not message.get("ok", True):
                log.warning("the daemon says: %s", message.get("error"))
            return
        if message.get("ok"):
            future.set_result(message.get("result"))
        else:
            future.set_exception(RefusedError(str(message.get("error", "refused"))))

    # -- requests -------------------------------------------------------------------------

    async def request(self, op: str, **fields: Any) -> Any:
        """Send one request and wait for its result; ``RefusedError`` if the daemon says no."""
        if self._writer is None or self.lost.is_set():
            raise NoDaemonError(f"not connected to the daemon at {self.path}")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        message = {"id": request_id, "op": op, **{k: v for k, v in fields.items() if v is not None}}
        try:
            self._writer.write(encode(message))
            await self._writer.drain()
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await future
        except (ConnectionError, OSError) as err:
            raise NoDaemonError(f"the daemon at {self.path} went away: {err}") from err
        except TimeoutError as err:
            raise NoDaemonError(f"the daemon did not answer {op} in time") from err
        finally:
            self._waiting.pop(request_id, None)

    async def hello(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("hello")
        return result

    async def snapshot(self) -> CityView:
        view: CityView = from_plain(await self.request("snapshot"))
        return view

    async def subscribe(self) -> None:
        """Have the daemon send its notices from now on (see ``notices``)."""
        await self.request("subscribe")

    def notices(self) -> AsyncIterator[Notice]:
        """The notices received, in order, until the connection ends."""
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Notice]:
        while True:
            if self._notices.empty() and self.lost.is_set():
                return
            getting = asyncio.ensure_future(self._notices.get())
            losing = asyncio.ensure_future(self.lost.wait())
            try:
                await asyncio.wait({getting, losing}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                losing.cancel()
                if not getting.done():
                    getting.cancel()
            if getting.done() and not getting.cancelled():
                yield getting.result()

    def notice_nowait(self) -> Notice | None:
        """The oldest notice received and not yet taken, or None."""
        try:
            return self._notices.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def faults(
        self,
        *,
        status: str = "active",
        zone: str | None = None,
        kind: str | None = None,
        severity: str | None = None,
        limit: int = 100,
    ) -> list[FaultNotice]:
        """Faults, newest first, each as the notice of its present state."""
        found = await self.request(
            "faults", status=status, zone=zone, kind=kind, severity=severity, limit=limit
        )
        return [from_plain(item) for item in found]

    async def lamp(self, lamp_id: str) -> LampView:
        view: LampView = from_plain(await self.request("lamp", lamp=lamp_id))
        return view

    async def energy(self, nights: int, zone: str | None = None) -> list[EnergyNight]:
        found = await self.request("energy", nights=nights, zone=zone)
        return [from_plain(item) for item in found]

    async def override(
        self,
        *,
        level: int,
        minutes: float,
        by: str,
        zone: str | None = None,
        lamp: str | None = None,
        reason: str = "",
    ) -> OverrideView:
        view: OverrideView = from_plain(
            await self.request(
                "override",
                level=level,
                minutes=minutes,
                by=by,
                zone=zone,
                lamp=lamp,
                reason=reason,
            )
        )
        return view

    async def cancel(self, override_id: int, by: str) -> OverrideView:
        view: OverrideView = from_plain(await self.request("cancel", override=override_id, by=by))
        return view

    async def acknowledge(self, fault_id: int, by: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("acknowledge", fault=fault_id, by=by)
        return result

    async def resolve(self, fault_id: int, by: str, note: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self.request("resolve", fault=fault_id, by=by, note=note)
        return result
