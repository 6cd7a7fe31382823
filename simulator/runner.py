"""The fleet on the network: every lamp's endpoint, their uplinks, and the faults.

``Simulator`` is an async context manager. On entry every lamp gets its endpoint (one
shared socket for the fleet, or one socket per lamp: see ``simulator.endpoint``), and a
fixed pool of workers starts to carry the lamps' uplinks: a lamp has no task of its own,
only a timer for its next report (its period times a random factor in [0.9, 1.1], so a city
does not report in lockstep) and a place in the queue when it has something to say (it has
powered up and must register, a fault appeared, the controller forgot it). Registrations
after power-up can be spread over ``startup_spread_s``. Planned faults (``City.faults``)
fire on their schedule; ``apply`` injects one at run time. On exit every loop stops and
every socket is closed.

A fleet of 100,000 lamps is some 660,000 long-lived objects that Python's cyclic
collector tracks, and it walks all of them at each full collection (measured at that size:
20 full collections of up to 0.8 s each, 6 of the 33 CPU seconds of a start-up). With
``freeze_gc`` the fleet moves every object that exists once it is up into the collector's
permanent generation (``gc.freeze()``), again once every lamp has registered (what
registering made lives as long), and back on exit; meanwhile the youngest generation is
collected every ``YOUNG_THRESHOLD`` allocations instead of CPython's 700, so that a burst of
commands is not walked while still in use (a tenth less CPU in the fan-out benchmark,
docs/performance.md, "the collector"). ``lighting sim`` does this; library users (a test, a
benchmark with a controller in the same process) choose.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import resource
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Literal, Self

from lighting.gc_tuning import GcTuning
from lighting.keys import KeyStore
from lighting.model import FaultKind
from simulator.city import City, PlannedFault
from simulator.endpoint import WILDCARD, Endpoint
from simulator.errors import FleetError, SimulatorError
from simulator.faults import SimFault
from simulator.lamp import LampSpec
from simulator.mqtt import MqttOptions, MqttUplink
from simulator.network import Cell
from simulator.node import FleetHooks, LampNode

log = logging.getLogger(__name__)

_FD_MARGIN = 256
UPLINK_WORKERS = 1024
"""Uplinks in flight at once, fleet-wide (each worker carries one lamp's at a time)."""
REGISTER_BACKOFF_MAX_S = 30.0
YOUNG_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation, with ``freeze_gc``."""
EndpointMode = Literal["auto", "shared", "per-lamp"]


def ensure_fd_limit(needed: int) -> int:
    """Raise the soft file-descriptor limit to at least ``needed``; return the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else min(max(needed, soft), hard)
    if target < needed:
        raise SimulatorError(
            f"{needed} file descriptors are needed but the hard limit is {hard}: "
            f"raise it (ulimit -Hn), run fewer lamps, or give the lamps a port of their "
            f"own so that one socket serves them all"
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as err:
        raise SimulatorError(
            f"the system refused a file-descriptor limit of {target}: {err}"
        ) from err
    log.info("file-descriptor limit raised from %d to %d", soft, target)
    return target


def choose_mode(
    specs: Sequence[LampSpec], controller: tuple[str, int], mode: EndpointMode
) -> Literal["shared", "per-lamp"]:
    """One socket for the fleet unless a lamp listens on the controller's port (a wildcard
    bind would conflict with the controller's socket)."""
    if mode != "auto":
        return mode
    ports = {spec.port for spec in specs}
    return "per-lamp" if controller[1] in ports else "shared"


class Simulator(FleetHooks):
    """A running fleet of simulated lamps, reporting to the controller at ``controller``."""

    def __init__(
        self,
        specs: Sequence[LampSpec],
        controller: tuple[str, int],
        *,
        seed: int = 7,
        cells: Mapping[str, Cell] | None = None,
        mqtt: MqttOptions | None = None,
        faults: Sequence[PlannedFault] = (),
        startup_spread_s: float = 0.0,
        endpoint: EndpointMode = "auto",
        workers: int = UPLINK_WORKERS,
        uplink_timeout_s: float | None = None,
        freeze_gc: bool = False,
        keys: KeyStore | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(seed)
        self._rng = random.Random(rng.getrandbits(64))
        # With MQTT, reports and fault events go through one platform client (registration
        # and commands stay on CoAP).
        self.mqtt = MqttUplink(mqtt, rng=random.Random(seed)) if mqtt is not None else None
        self.cells: dict[str, Cell] = dict(cells or {})
        for spec in specs:
            if spec.cell not in self.cells:
                self.cells[spec.cell] = Cell(spec.cell, rng=random.Random(rng.getrandbits(64)))
        self.mode = choose_mode(specs, controller, endpoint)
        self.endpoints: dict[int, Endpoint] = {}
        if self.mode == "shared":
            self.endpoints = {port: Endpoint(WILDCARD, port) for port in {s.port for s in specs}}
        node_rng = random.Random(rng.getrandbits(64))
        self.nodes: dict[str, LampNode] = {
            spec.lamp_id: LampNode(
                spec,
                controller,
                clock=loop.time,
                rng=node_rng,
                cell=self.cells[spec.cell],
                mqtt=self.mqtt,
                endpoint=self.endpoints.get(spec.port),
                fleet=self,
            )
            for spec in specs
        }
        if uplink_timeout_s is not None:
            for node in self.nodes.values():
                node.uplink_timeout_s = uplink_timeout_s
        if keys is not None:
            self._secure(keys)
        self.faults = tuple(faults)
        self.startup_spread_s = startup_spread_s
        self._workers = max(1, min(workers, len(self.nodes)))
        self._queue: deque[LampNode] = deque()
        self._ready = asyncio.Event()
        self._progress = asyncio.Event()
        self.registered_count = 0
        self._booting = False
        self.freeze_gc = freeze_gc
        self._gc = GcTuning(YOUNG_THRESHOLD) if freeze_gc else None
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []

    def _secure(self, keys: KeyStore) -> None:
        """Give every lamp its OSCORE context (``FleetError`` if some have none)."""
        missing = [lamp_id for lamp_id in self.nodes if lamp_id not in keys.by_lamp]
        if missing:
            raise FleetError(
                f"{len(missing)} lamps have no OSCORE key (the first: {missing[0]}): "
                "`lighting keys provision` them with the city's inventory"
            )
        for lamp_id, node in self.nodes.items():
            node.security = keys.by_lamp[lamp_id]

    @classmethod
    def for_city(
        cls,
        city: City,
        controller: tuple[str, int],
        *,
        mqtt: MqttOptions | None = None,
        endpoint: EndpointMode = "auto",
        run_faults: bool = True,
        uplink_timeout_s: float | None = None,
        freeze_gc: bool = False,
        keys: KeyStore | None = None,
    ) -> Simulator:
        """The fleet of ``city``: its cells (coverage classes) and, unless told otherwise,
        its planned faults."""
        return cls(
            city.specs,
            controller,
            seed=city.seed,
            cells=city.make_cells(),
            mqtt=mqtt,
            faults=city.faults if run_faults else (),
            startup_spread_s=city.startup_spread_s,
            endpoint=endpoint,
            uplink_timeout_s=uplink_timeout_s,
            freeze_gc=freeze_gc,
            keys=keys,
        )

    def __getitem__(self, lamp_id: str) -> LampNode:
        return self.nodes[lamp_id]

    def __len__(self) -> int:
        return len(self.nodes)

    # -- start and stop ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self.mode == "per-lamp":
            ensure_fd_limit(len(self.nodes) + _FD_MARGIN)
        self._booting = True
        try:
            for endpoint in self.endpoints.values():
                endpoint.open()
            for node in self.nodes.values():
                await node.open()
        except SimulatorError:
            await self._close_all()
            raise
        finally:
            self._booting = False
        if self._gc is not None:
            self._gc.__enter__()
            gc.freeze()
        # The workers, the fault schedule and the MQTT platform run in one task group owned
        # by the simulator: a loop that fails stops the fleet loudly.
        if self.mqtt is not None:
            await self._stack.enter_async_context(self.mqtt)
        group = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._tasks = [
            group.create_task(self._worker(), name=f"uplinks {i}") for i in range(self._workers)
        ]
        if self.faults:
            self._tasks.append(group.create_task(self._run_faults(), name="planned faults"))
        if self.mqtt is not None:
            self._tasks.append(group.create_task(self.mqtt.run(), name="mqtt uplink"))
        log.info(
            "simulator: %d lamps listening (%s)",
            len(self.nodes),
            "one socket" if self.mode == "shared" else "one socket per lamp",
        )
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
            if self._gc is not None:
                self._gc.__exit__(None, None, None)

    async def _close_all(self) -> None:
        for node in self.nodes.values():
            await node.close()
        for endpoint in self.endpoints.values():
            endpoint.close()

    # -- scheduling -------------------------------------------------------------------------

    def wake(self, node: LampNode) -> None:
        """Queue ``node`` for an uplink (at power-up, spread over ``startup_spread_s``)."""
        if self._booting and self.startup_spread_s > 0:
            self._schedule(node, self.startup_spread_s * self._rng.random())
            return
        if not node.queued:
            node.queued = True
            self._queue.append(node)
            self._ready.set()

    def registration(self, node: LampNode, registered: bool) -> None:
        self.registered_count += 1 if registered else -1
        self._progress.set()
        if self._gc is not None and registered and self.registered_count == len(self.nodes):
            self._gc.settle(full=False)

    def _schedule(self, node: LampNode, delay: float) -> None:
        if node.timer is not None:
            node.timer.cancel()
        node.timer = asyncio.get_running_loop().call_later(delay, self._due, node)

    def _due(self, node: LampNode) -> None:
        node.timer = None
        node.report_due = True
        self.wake(node)

    def _next_report(self, node: LampNode) -> None:
        self._schedule(node, node.spec.report_period_s * self._rng.uniform(0.9, 1.1))

    async def _worker(self) -> None:
        queue = self._queue
        while True:
            while not queue:
                self._ready.clear()
                await self._ready.wait()
            node = queue.popleft()
            node.queued = False
            await self._cycle(node)

    async def _cycle(self, node: LampNode) -> None:
        """One turn of a lamp: register if it must, send its fault events, report."""
        if not node.online:
            return
        if not node.is_registered:
            if await node.register():
                await node.send_report()
                if node.has_events:
                    await node.send_events()
                    await node.send_report()
                self._next_report(node)
            elif node.online:
                delay = node.backoff * self._rng.uniform(0.5, 1.0)
                node.backoff = min(node.backoff * 2, REGISTER_BACKOFF_MAX_S)
                self._schedule(node, delay)
            return
        sent = await node.send_events()
        if sent or node.report_due:
            node.report_due = False
            if node.is_registered and node.online:
                await node.send_report()
                self._next_report(node)

    # -- faults -----------------------------------------------------------------------------

    def targets(
        self,
        *,
        lamp: str | None = None,
        cabinet: str | None = None,
        cell: str | None = None,
        zone: str | None = None,
    ) -> list[str]:
        """The lamps one of ``lamp``, ``cabinet``, ``cell`` or ``zone`` names; ``FleetError``
        if it names none."""
        if lamp is not None:
            if lamp not in self.nodes:
                raise FleetError(f"no lamp {lamp!r} in this fleet")
            return [lamp]
        checks = (("cabinet", cabinet), ("cell", cell), ("zone", zone))
        for what, value in checks:
            if value is not None:
                found = [i for i, n in self.nodes.items() if getattr(n.spec, what) == value]
                if not found:
                    raise FleetError(f"no {what} {value!r} in this fleet")
                return found
        raise FleetError("name a lamp, a cabinet, a cell or a zone")

    def apply(
        self, kind: SimFault, lamp_ids: Iterable[str] = (), *, cell: str = "", active: bool = True
    ) -> int:
        """Raise (or clear) ``kind`` on the lamps, or on ``cell`` for cell-silent; how many
        lamps it touched."""
        if kind is SimFault.CELL_SILENT:
            if cell not in self.cells:
                raise FleetError(f"no cell {cell!r} in this fleet")
            self.cells[cell].silent = active
            return sum(1 for node in self.nodes.values() if node.spec.cell == cell)
        ids = list(lamp_ids)
        unknown = [lamp_id for lamp_id in ids if lamp_id not in self.nodes]
        if unknown:
            raise FleetError(f"no lamp {unknown[0]!r} in this fleet")
        if kind.momentary and not active:
            return 0
        for lamp_id in ids:
            self.nodes[lamp_id].fault(kind, active)
        return len(ids)

    async def _run_faults(self) -> None:
        """Fire the planned faults at their time (and clear those that last a while)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        timeline: list[tuple[float, int, PlannedFault, bool]] = []
        for number, planned in enumerate(self.faults):
            timeline.append((planned.at_s, number, planned, True))
            if planned.duration_s is not None and not planned.kind.momentary:
                timeline.append((planned.at_s + planned.duration_s, number, planned, False))
        for at, _, planned, active in sorted(timeline, key=lambda item: item[:2]):
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            count = self.apply(planned.kind, planned.lamps, cell=planned.cell, active=active)
            log.info(
                "fault %s %s on %s (%d lamps)",
                planned.kind.value,
                "raised" if active else "cleared",
                planned.target,
                count,
            )

    # -- the fleet as the tests use it ------------------------------------------------------

    async def wait_registered(self, lamp_ids: Iterable[str] | None = None) -> None:
        """Wait until the given lamps (all by default) have registered with the controller."""
        if lamp_ids is None:
            while self.registered_count < len(self.nodes):
                self._progress.clear()
                await self._progress.wait()
            return
        await asyncio.gather(*(self.nodes[i].registered.wait() for i in lamp_ids))

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
