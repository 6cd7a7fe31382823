"""Health and counters over HTTP, for monitoring (``[metrics]``, loopback by default).

Two resources, plain HTTP/1.1, one request per connection:

- ``GET /metrics``: every counter of the controller (``lighting.metrics``) as a Prometheus
  counter, ``citylight_<name>_total`` (dots and dashes become underscores), and the gauges
  an operator watches: lamps known and in contact, commands pending and on the air, cells
  down, reports waiting to be stored, views connected, seconds since start.
- ``GET /health``: 200 with a JSON summary while the controller works, 503 when it does
  not (the database does not answer within ``PING_TIMEOUT_S``, or the report buffer is
  nearly full). A load balancer or systemd's ExecStartPost can ask it.

It is served by the controller's own event loop, so an answer also says that the loop
turns; it reads the controller's state and changes nothing. Written by hand (about a
hundred lines) rather than with ``prometheus_client``, whose server runs in a thread of
its own and would read the loop's state from outside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from types import TracebackType
from typing import TYPE_CHECKING, Self

from lighting.config import MetricsConfig
from lighting.errors import EndpointError, StorageError

if TYPE_CHECKING:
    from lighting.controller.daemon import Controller

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
MAX_REQUEST = 8192
BACKLOG_ALARM = 0.9
"""The share of the report buffer in use past which the controller is not healthy."""
_NAME = re.compile(r"[^a-zA-Z0-9_]")


def metric_name(counter: str) -> str:
    """``coap.refused.report.bad-payload`` -> ``citylight_coap_refused_report_bad_payload``."""
    return "citylight_" + _NAME.sub("_", counter)


def exposition(counters: dict[str, int], gauges: dict[str, tuple[float, str]]) -> str:
    """The Prometheus text format (version 0.0.4) of ``counters`` and ``gauges``."""
    lines: list[str] = []
    for name, (value, help_text) in sorted(gauges.items()):
        metric = metric_name(name)
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge", f"{metric} {value:g}"]
    for name, count in sorted(counters.items()):
        metric = metric_name(name) + "_total"
        lines += [f"# TYPE {metric} counter", f"{metric} {count}"]
    return "\n".join(lines) + "\n"


class HealthServer:
    """The HTTP endpoint, as an async context manager around the controller."""

    def __init__(self, controller: Controller, config: MetricsConfig) -> None:
        self._controller = controller
        self._config = config
        self._server: asyncio.Server | None = None
        self._started = time.monotonic()
        self.port = config.port

    async def __aenter__(self) -> Self:
        host = self._config.host
        try:
            self._server = await asyncio.start_server(
                self._serve, host, self._config.port, limit=MAX_REQUEST
            )
        except OSError as err:
            raise EndpointError(f"http://{host}:{self._config.port}", str(err)) from err
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health and metrics on http://%s:%d/metrics and /health", host, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()

    # -- what it says ---------------------------------------------------------------------

    def gauges(self) -> dict[str, tuple[float, str]]:
        controller = self._controller
        delivery = controller.delivery
        writer = controller.writer
        control = controller.control
        return {
            "up": (1, "1 while the controller runs"),
            "uptime_seconds": (round(time.monotonic() - self._started, 1), "seconds since start"),
            "lamps": (len(controller.registry), "lamps known"),
            "lamps_in_contact": (controller.registry.in_contact(), "lamps in contact"),
            "commands_pending": (
                delivery.pending_count() if delivery else 0,
                "commands not yet acknowledged",
            ),
            "commands_in_flight": (
                sum(delivery.in_flight_per_cell().values()) if delivery else 0,
                "commands on the air",
            ),
            "cells_down": (len(delivery.cells_down) if delivery else 0, "cells not answering"),
            "reports_waiting": (writer.queued if writer else 0, "reports waiting to be stored"),
            "views": (control.views if control else 0, "dashboards and CLIs connected"),
        }

    async def health(self) -> tuple[int, dict[str, object]]:
        """The status code and the summary of ``GET /health``."""
        problems: list[str] = []
        try:
            async with asyncio.timeout(PING_TIMEOUT_S):
                await self._controller.store.call(self._controller.repository.ping)
        except (StorageError, TimeoutError) as err:
            problems.append(f"database: {err or 'no answer within the timeout'}")
        writer = self._controller.writer
        if writer is not None and writer.queued >= BACKLOG_ALARM * writer.buffer:
            problems.append(f"report buffer {writer.queued}/{writer.buffer}")
        summary: dict[str, object] = {
            "status": "failing" if problems else "ok",
            "problems": problems,
            **{name: value for name, (value, _) in self.gauges().items()},
        }
        return (503 if problems else 200), summary

    # -- HTTP -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                request = await reader.readuntil(b"\r\n\r\n")
            status, kind, body = await self._answer(request)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            status, kind, body = 400, "text/plain", b"bad request\n"
        except ConnectionError:
            writer.close()
            return
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        writer.close()

    async def _answer(self, request: bytes) -> tuple[int, str, bytes]:
        line = request.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(line) != 3 or not line[2].startswith("HTTP/"):
            return 400, "text/plain", b"bad request\n"
        method, path = line[0], line[1].split("?", 1)[0]
        if method != "GET":
            return 405, "text/plain", b"GET only\n"
        self._controller.counters.incr("metrics.requests")
        if path == "/metrics":
            text = exposition(self._controller.counters.snapshot(), self.gauges())
            return 200, "text/plain; version=0.0.4; charset=utf-8", text.encode()
        if path == "/health":
            status, summary = await self.health()
            return status, "application/json", json.dumps(summary).encode() + b"\n"
        return 404, "text/plain", b"/metrics or /health\n"


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}
