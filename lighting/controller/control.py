"""The control channel: the daemon's local door for dashboards and the CLI.

A Unix socket (``[control] socket``, mode 0660: whoever may use it is whoever may write to
it) speaking JSON lines (``lighting.protocol.control``). Each view gets its own task; its
requests are answered in order, one at a time; after ``subscribe`` it also gets the
daemon's notices from a bounded queue of its own. The daemon never waits for a view: a view
that stops reading loses its oldest notices (counted), and one whose socket stays full for
``WRITE_TIMEOUT_S`` is disconnected. The city overview is computed at most once per
``SNAPSHOT_TTL_S`` whatever the number of views asking.

Orders (override, cancel, acknowledge, resolve) go to the ``OperatorDesk``, as the CLI's
do, so every one is recorded with who gave it and announced like everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from lighting.config import ControlConfig
from lighting.controller.operator import MAX_OVERRIDE
from lighting.controller.overview import city_view, energy_nights, lamp_view
from lighting.errors import ConfigError, LightingError, NotFoundError, ProtocolError
from lighting.model import FaultKind, Severity
from lighting.overview import CityView, OverrideView
from lighting.protocol.control import MAX_LINE, OPS, VERSION, decode, encode, to_plain
from lighting.storage import OverrideRecord

if TYPE_CHECKING:
    from lighting.controller.daemon import Controller

log = logging.getLogger(__name__)

SNAPSHOT_TTL_S = 0.5
WRITE_TIMEOUT_S = 10.0
OUTBOX = 256
"""Lines waiting for a view's socket before its notices wait in its subscription."""
MAX_CLIENTS = 64
MAX_FAULTS = 500
MAX_NIGHTS = 92
MAX_INTEGER = 2**63
MAX_MINUTES = MAX_OVERRIDE / timedelta(minutes=1)


class RequestError(LightingError):
    """A request the daemon refuses: its message goes back to the view."""


def override_view(record: OverrideRecord) -> OverrideView:
    return OverrideView(
        record.override_id,
        record.zone,
        record.lamp_id,
        record.level,
        record.start,
        record.end,
        record.by,
        record.reason,
    )


def _text(request: dict[str, Any], key: str, *, required: bool = True, limit: int = 200) -> str:
    value = request.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise RequestError(f"{key}: a text is expected")
    if len(value) > limit:
        raise RequestError(f"{key}: at most {limit} characters")
    return value


def _number(request: dict[str, Any], key: str, *, high: float, meaning: str) -> float:
    """A number more than 0 and at most ``high`` (NaN, infinities and numbers past what a
    duration can hold are refused here, not left to overflow further on); ``meaning`` says
    the bound in the operator's terms."""
    value = request.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(f"{key}: a number is expected")
    if not 0 < value <= high:
        raise RequestError(f"{key}: {meaning}")
    return float(value)


def _integer(request: dict[str, Any], key: str) -> int:
    value = request.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{key}: an integer is expected")
    if not -MAX_INTEGER <= value < MAX_INTEGER:  # what the database's integers hold
        raise RequestError(f"{key}: out of range")
    return value


def _optional(request: dict[str, Any], key: str) -> str | None:
    value = request.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError(f"{key}: a text is expected")
    return value


class _View:
    """One connected view: its outbox, its writer task, its subscription (if any)."""

    def __init__(self, number: int, writer: asyncio.StreamWriter) -> None:
        self.name = f"view-{number}"
        self.writer = writer
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=OUTBOX)
        self.tasks: list[asyncio.Task[None]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.outbox.put(encode(message))

    async def write_loop(self) -> None:
        while True:
            line = await self.outbox.get()
            self.writer.write(line)
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self.writer.drain()


class ControlServer:
    """Serves the control channel while the daemon runs (an async context manager)."""

    def __init__(self, controller: Controller, config: ControlConfig) -> None:
        self._controller = controller
        self._config = config
        self.path = Path(config.socket)
        self._server: asyncio.Server | None = None
        self._views: dict[str, _View] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._numbers = 0
        self._snapshot: CityView | None = None
        self._snapshot_at = 0.0
        self._snapshot_lock = asyncio.Lock()

    @property
    def views(self) -> int:
        """Views connected now."""
        return len(self._views)

    async def __aenter__(self) -> Self:
        self._clear_stale()
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=self.path, limit=MAX_LINE + 1
            )
        except OSError as err:
            raise ConfigError(f"[control] socket {self.path}: cannot listen: {err}") from err
        os.chmod(self.path, 0o660)
        log.info("control channel on %s", self.path)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        # End each view's own tasks and let its handler return: a handler cancelled from
        # here makes asyncio's stream server (Python 3.11) log an error for it.
        for view in list(self._views.values()):
            for child in view.tasks:
                child.cancel()
        handlers = list(self._handlers)
        if handlers:
            _, late = await asyncio.wait(handlers, timeout=WRITE_TIMEOUT_S)
            for handler in late:
                handler.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _clear_stale(self) -> None:
        """Remove the socket of a daemon that died; refuse if a daemon still answers."""
        try:
            mode = self.path.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ConfigError(f"[control] socket {self.path}: exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.path))
        except (ConnectionRefusedError, FileNotFoundError):
            log.info("removing the stale control socket %s", self.path)
            self.path.unlink(missing_ok=True)
            return
        finally:
            probe.close()
        raise ConfigError(f"[control] socket {self.path}: another daemon answers there")

    # -- one view -------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        counters = self._controller.counters
        self._numbers += 1
        view = _View(self._numbers, writer)
        try:
            if len(self._views) >= MAX_CLIENTS:
                counters.incr("control.refused")
                writer.write(encode({"ok": False, "error": "too many views connected"}))
                return
            self._views[view.name] = view
            counters.incr("control.connected")
            writing = asyncio.create_task(view.write_loop(), name=f"{view.name} writer")
            view.tasks.append(writing)
            reading = asyncio.create_task(self._read_loop(view, reader), name=view.name)
            view.tasks.append(reading)
            done, _ = await asyncio.wait(view.tasks, return_when=asyncio.FIRST_COMPLETED)
            for finished in done:
                error = None if finished.cancelled() else finished.exception()
                if isinstance(error, TimeoutError):
                    counters.incr("control.slow_view")
                    log.warning("%s does not read its socket: disconnected", view.name)
                elif error is not None and not isinstance(error, ConnectionError | OSError):
                    # A request that failed in a way nobody expected: say so, not silently.
                    counters.incr("control.failed")
                    log.error("%s: disconnected on an unexpected error", view.name, exc_info=error)
        except (ConnectionError, OSError) as err:
            log.info("%s: %s", view.name, err)
        finally:
            # Close first, without awaiting: this may run because the server is cancelling.
            self._views.pop(view.name, None)
            if task is not None:
                self._handlers.discard(task)
            for child in view.tasks:
                child.cancel()
            writer.close()
            await asyncio.gather(*view.tasks, return_exceptions=True)
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _read_loop(self, view: _View, reader: asyncio.StreamReader) -> None:
        counters = self._controller.counters
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return  # the view closed its end
            except asyncio.LimitOverrunError:
                counters.incr("control.refused")
                await view.send({"ok": False, "error": f"a line is at most {MAX_LINE} bytes"})
                return
            request_id: Any = None
            try:
                request = decode(line)
                request_id = request.get("id")
                result = await self._answer(view, request)
            except (RequestError, ProtocolError, NotFoundError, ValueError) as err:
                counters.incr("control.refused")
                log.info("%s: refused: %s", view.name, err)
                await view.send({"id": request_id, "ok": False, "error": str(err)})
            except LightingError as err:
                counters.incr("control.failed")
                log.warning("%s: failed: %s", view.name, err)
                await view.send({"id": request_id, "ok": False, "error": str(err)})
            else:
                counters.incr("control.answered")
                await view.send({"id": request_id, "ok": True, "result": result})

    async def _pump(self, view: _View) -> None:
        """The daemon's notices to one view, through its own bounded subscription."""
        hub = self._controller.events
        with hub.subscribe(view.name, self._config.client_buffer) as subscription:
            async for notice in subscription:
                await view.send({"notice": to_plain(notice)})

    # -- requests -------------------------------------------------------------------------

    async def _answer(self, view: _View, request: dict[str, Any]) -> Any:  # noqa: PLR0911
        op = request.get("op")
        if op not in OPS:
            raise RequestError(f"unknown op {op!r}; known: {', '.join(OPS)}")
        controller = self._controller
        desk = controller.desk
        if op == "hello":
            return {
                "version": VERSION,
                "site": controller.settings.site_value.name,
                "zones": list(controller.settings.zones),
                "lamps": len(controller.registry),
                "ops": list(OPS),
            }
        if op == "snapshot":
            return to_plain(await self.snapshot())
        if op == "subscribe":
            if not any(task.get_name() == f"{view.name} notices" for task in view.tasks):
                view.tasks.append(
                    asyncio.create_task(self._pump(view), name=f"{view.name} notices")
                )
            return {"buffer": self._config.client_buffer}
        if op == "faults":
            return await self._faults(request)
        if op == "lamp":
            return to_plain(await lamp_view(controller, _text(request, "lamp", limit=64)))
        if op == "energy":
            nights = _integer(request, "nights")
            if not 1 <= nights <= MAX_NIGHTS:
                raise RequestError(f"nights: from 1 to {MAX_NIGHTS}")
            found = await energy_nights(controller, nights, _optional(request, "zone"))
            return [to_plain(night) for night in found]
        if op == "override":
            record = await desk.override(
                level=_integer(request, "level"),
                minutes=_number(
                    request,
                    "minutes",
                    high=MAX_MINUTES,
                    meaning=f"an override lasts more than 0 and at most {MAX_OVERRIDE.days} days",
                ),
                by=_text(request, "by", limit=64),
                zone=_optional(request, "zone"),
                lamp=_optional(request, "lamp"),
                reason=_text(request, "reason", required=False),
            )
            self._snapshot = None
            return to_plain(override_view(record))
        if op == "cancel":
            record = await desk.cancel(
                _integer(request, "override"), _text(request, "by", limit=64)
            )
            self._snapshot = None
            return to_plain(override_view(record))
        if op == "acknowledge":
            fault = await desk.acknowledge(
                _integer(request, "fault"), _text(request, "by", limit=64)
            )
            return {"fault": fault.fault_id, "status": fault.status, "by": fault.acknowledged_by}
        fault = await desk.resolve(
            _integer(request, "fault"),
            _text(request, "by", limit=64),
            _text(request, "note", required=False, limit=500),
        )
        return {"fault": fault.fault_id, "status": fault.status, "by": fault.resolved_by}

    async def snapshot(self) -> CityView:
        """The city overview, shared by every view that asks within ``SNAPSHOT_TTL_S``."""
        loop = asyncio.get_running_loop()
        async with self._snapshot_lock:
            if self._snapshot is None or loop.time() - self._snapshot_at > SNAPSHOT_TTL_S:
                self._snapshot = await city_view(self._controller)
                self._snapshot_at = loop.time()
            return self._snapshot

    async def _faults(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        from lighting.controller.faults import fault_notice  # noqa: PLC0415

        controller = self._controller
        limit = _integer(request, "limit") if "limit" in request else 100
        if not 1 <= limit <= MAX_FAULTS:
            raise RequestError(f"limit: from 1 to {MAX_FAULTS}")
        kinds: list[FaultKind] | None = None
        kind, severity = _optional(request, "kind"), _optional(request, "severity")
        try:
            if kind is not None:
                kinds = [FaultKind.from_slug(kind)]
            if severity is not None:
                wanted = Severity(severity)
                kinds = [k for k in (kinds or list(FaultKind)) if k.severity == wanted]
        except ValueError as err:
            raise RequestError(str(err)) from err
        status = request.get("status", "active")
        statuses: tuple[str, ...] | None
        if status == "active":
            statuses = ("open", "acknowledged")
        elif status in ("open", "acknowledged", "resolved"):
            statuses = (status,)
        elif status == "all":
            statuses = None
        else:
            raise RequestError("status: active, open, acknowledged, resolved or all")
        found = await controller.store.call(
            controller.repository.faults,
            status=statuses,
            zone=_optional(request, "zone"),
            kinds=kinds,
            limit=limit,
        )
        return [
            to_plain(fault_notice(fault.status, fault, fault.resolved_at or fault.last_seen_at))
            for fault in found
        ]
