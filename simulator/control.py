"""The simulator's own control endpoint: faults injected while the city runs.

A Unix socket (``--control PATH``, default ``citylight-sim.sock`` in the working directory,
mode 0600) speaking JSON lines: one request per line, one answer per line, in order. It is
the simulator's door, not the controller's: nothing of it goes over the lamps' network.

Requests::

    {"op": "fault", "kind": "lamp-failure", "lamp": "L00042"}           raise on one lamp
    {"op": "fault", "kind": "supply-loss", "cabinet": "north-c02"}        ... on a cabinet
    {"op": "fault", "kind": "cell-silent", "cell": "cell-0003"}           ... on a cell
    {"op": "fault", "kind": "overheating", "zone": "harbour", "active": false}   clear
    {"op": "status"}                                                      the fleet at a glance
    {"op": "lamp", "lamp": "L00042"}                                      one lamp's state

Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "why"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from simulator.errors import FleetError, SimulatorError
from simulator.faults import SimFault
from simulator.runner import Simulator

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "citylight-sim.sock"
MAX_LINE = 64 * 1024
REQUEST_TIMEOUT_S = 10.0


class ControlError(SimulatorError):
    """The control endpoint cannot be opened, or no simulator answers on it."""


def _lamp_state(sim: Simulator, lamp_id: str) -> dict[str, Any]:
    node = sim.nodes[lamp_id]
    lamp, spec = node.lamp, node.spec
    lamp.advance(node.clock())
    return {
        "lamp": lamp_id,
        "zone": spec.zone,
        "cell": spec.cell,
        "cabinet": spec.cabinet,
        "address": f"{spec.address}:{spec.port}",
        "online": node.online,
        "registered": node.is_registered,
        "level": lamp.level,
        "autonomous": lamp.autonomous,
        "power_w": round(lamp.power_w, 2),
        "voltage_v": round(lamp.voltage_v, 1),
        "temperature_c": round(lamp.temperature_c, 1),
        "energy_wh": round(lamp.energy_wh, 3),
        "faults": sorted(kind.slug for kind in lamp.faults),
    }


def _fault(sim: Simulator, request: dict[str, Any]) -> dict[str, Any]:
    kind = SimFault(str(request.get("kind")))
    active = bool(request.get("active", True))
    if kind is SimFault.CELL_SILENT:
        count = sim.apply(kind, cell=str(request.get("cell", "")), active=active)
    else:
        lamps = sim.targets(
            lamp=request.get("lamp"),
            cabinet=request.get("cabinet"),
            cell=request.get("cell"),
            zone=request.get("zone"),
        )
        count = sim.apply(kind, lamps, active=active)
    log.info("control: %s %s on %d lamps", kind.value, "raised" if active else "cleared", count)
    return {"ok": True, "kind": kind.value, "active": active, "lamps": count}


def _status(sim: Simulator) -> dict[str, Any]:
    nodes = sim.nodes.values()
    return {
        "ok": True,
        "lamps": len(sim.nodes),
        "registered": sim.registered_count,
        "offline": sum(1 for node in nodes if not node.online),
        "autonomous": sum(1 for node in nodes if node.lamp.autonomous),
        "faulty": sum(1 for node in nodes if node.lamp.faults),
        "silent_cells": sorted(c.cell_id for c in sim.cells.values() if c.silent),
        "endpoint": sim.mode,
    }


def handle(sim: Simulator, request: Any) -> dict[str, Any]:
    """The answer to one request."""
    if not isinstance(request, dict):
        return {"ok": False, "error": "a request is a JSON object"}
    op = request.get("op")
    try:
        if op == "fault":
            return _fault(sim, request)
        if op == "status":
            return _status(sim)
        if op == "lamp":
            [lamp_id] = sim.targets(lamp=str(request.get("lamp")))
            return {"ok": True, **_lamp_state(sim, lamp_id)}
    except (ValueError, FleetError) as err:
        return {"ok": False, "error": str(err)}
    return {"ok": False, "error": f"unknown op {op!r}: fault, status or lamp"}


class ControlServer:
    """The control endpoint of a running ``Simulator``, as an async context manager."""

    def __init__(self, sim: Simulator, path: Path) -> None:
        self.sim = sim
        self.path = path
        self._server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> Self:
        if self.path.is_socket():
            if _alive(self.path):
                raise ControlError(f"{self.path}: another simulator is listening there")
            self.path.unlink()
        try:
            self._server = await asyncio.start_unix_server(
                self._client, path=str(self.path), limit=MAX_LINE
            )
            os.chmod(self.path, 0o600)
        except OSError as err:
            raise ControlError(f"cannot open {self.path}: {err.strerror or err}") from err
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    answer = handle(self.sim, json.loads(line))
                except json.JSONDecodeError as err:
                    answer = {"ok": False, "error": f"not JSON: {err}"}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError) as err:  # ValueError: a line over the limit
            log.debug("control: client dropped: %s", err)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def _alive(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


async def request(path: Path, message: dict[str, Any]) -> dict[str, Any]:
    """Send one request to the simulator listening at ``path``; its answer."""
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE)
            try:
                writer.write(json.dumps(message).encode() + b"\n")
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
    except (OSError, TimeoutError) as err:
        raise ControlError(f"no simulator answers at {path}: {err}") from err
    try:
        answer = json.loads(line)
    except json.JSONDecodeError as err:
        raise ControlError(f"{path}: not an answer: {line[:80]!r}") from err
    if not isinstance(answer, dict):
        raise ControlError(f"{path}: not an answer: {line[:80]!r}")
    return answer
