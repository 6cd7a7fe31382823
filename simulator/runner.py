"""The fleet on the network: opens every lamp's endpoint and runs their uplink loops.

``Simulator`` is an async context manager; on entry every lamp is bound (the file
descriptor limit is raised first, with a clear error when the system refuses), on exit
every endpoint is closed and every loop cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import random
import resource
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Self

from lighting.model import FaultKind
from simulator.errors import SimulatorError
from simulator.lamp import LampSpec
from simulator.mqtt import MqttOptions, MqttUplink
from simulator.network import Cell
from simulator.node import LampNode

log = logging.getLogger(__name__)

_FDS_PER_LAMP = 1
_FD_MARGIN = 256
_OPEN_CONCURRENCY = 64


def ensure_fd_limit(needed: int) -> int:
    """Raise the soft file-descriptor limit to at least ``needed``; return the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(max(needed, soft), hard)
    if target < needed:
        raise SimulatorError(
            f"{needed} file descriptors are needed but the hard limit is {hard}: "
            f"raise it (ulimit -Hn) or run fewer lamps"
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as err:
        raise SimulatorError(
            f"the system refused a file-descriptor limit of {target}: {err}"
        ) from err
    log.info("file-descriptor limit raised from %d to %d", soft, target)
    return target


class Simulator:
    """A running fleet of simulated lamps, reporting to the controller at ``controller``."""

    def __init__(
        self,
        specs: Sequence[LampSpec],
        controller: tuple[str, int],
        *,
        seed: int = 7,
        cells: Mapping[str, Cell] | None = None,
        mqtt: MqttOptions | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(seed)
        # With MQTT, reports and fault events go through one platform client (registration
        # and commands stay on CoAP).
        self.mqtt = MqttUplink(mqtt, rng=random.Random(seed)) if mqtt is not None else None
        self.cells: dict[str, Cell] = dict(cells or {})
        for spec in specs:
            if spec.cell not in self.cells:
                self.cells[spec.cell] = Cell(spec.cell, rng=random.Random(rng.getrandbits(64)))
        self.nodes: dict[str, LampNode] = {
            spec.lamp_id: LampNode(
                spec,
                controller,
                clock=loop.time,
                rng=random.Random(rng.getrandbits(64)),
                cell=self.cells[spec.cell],
                mqtt=self.mqtt,
            )
            for spec in specs
        }
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []

    def __getitem__(self, lamp_id: str) -> LampNode:
        return self.nodes[lamp_id]

    def __len__(self) -> int:
        return len(self.nodes)

    async def __aenter__(self) -> Self:
        ensure_fd_limit(len(self.nodes) * _FDS_PER_LAMP + _FD_MARGIN)
        semaphore = asyncio.Semaphore(_OPEN_CONCURRENCY)

        async def open_one(node: LampNode) -> None:
            async with semaphore:
                await node.open()

        try:
            async with asyncio.TaskGroup() as group:
                for node in self.nodes.values():
                    group.create_task(open_one(node))
        except BaseExceptionGroup as group_error:
            await self._close_all()
            first = group_error.exceptions[0]
            raise first from group_error
        # Every lamp's loop runs in one task group owned by the simulator: a loop that fails
        # stops the fleet loudly instead of leaving a lamp silently dead.
        if self.mqtt is not None:
            await self._stack.enter_async_context(self.mqtt)
        group = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._tasks = [
            group.create_task(node.run(), name=f"lamp {lamp_id}")
            for lamp_id, node in self.nodes.items()
        ]
        if self.mqtt is not None:
            self._tasks.append(group.create_task(self.mqtt.run(), name="mqtt uplink"))
        log.info("simulator: %d lamps listening", len(self.nodes))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        try:
            await self._stack.aclose()
        finally:
            await self._close_all()

    async def _close_all(self) -> None:
        await asyncio.gather(
            *(node.close() for node in self.nodes.values()), return_exceptions=True
        )

    async def wait_registered(self, lamp_ids: Iterable[str] | None = None) -> None:
        """Wait until the given lamps (all by default) have registered with the controller."""
        ids = list(self.nodes) if lamp_ids is None else list(lamp_ids)
        await asyncio.gather(*(self.nodes[i].registered.wait() for i in ids))

    def inject(self, lamp_id: str, kind: FaultKind, active: bool = True) -> None:
        self.nodes[lamp_id].inject(kind, active)

    async def silence(self, lamp_id: str) -> None:
        """The lamp drops out of coverage: it stops answering and reporting."""
        await self.nodes[lamp_id].go_silent()

    async def revive(self, lamp_id: str) -> None:
        """The lamp comes back and registers again."""
        await self.nodes[lamp_id].open()

    def levels(self) -> dict[str, int]:
        return {lamp_id: node.lamp.level for lamp_id, node in self.nodes.items()}
