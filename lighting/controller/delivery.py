"""Delivery: every lamp gets the level it should have, as fast as its cell allows, no faster.

For each lamp the engine knows the desired level (TALQ's target), the command carrying it
(commanded), and what the lamp last reported (actual). A change records one command per
lamp and queues it; a dispatcher starts commands while the lamp's cell has fewer than
``per_cell`` in flight and the city fewer than ``concurrency``, spreading the first sends
over ``jitter_s``. Each lamp has one exchange at a time.

- A command not acknowledged is tried again after an exponential backoff with jitter, up to
  ``max_attempts``; then the lamp is marked unreachable (a fault) and parked. Its next
  uplink clears that and sends the command again (same id: the lamp applies it once).
- A newer level for a lamp replaces an older one not yet delivered: the latest wins.
- A lamp in queue mode (sleepy) is sent commands only within ``wake_window_s`` of its last
  uplink; otherwise its command waits, and the database keeps it across restarts.
- A lamp that registers again (reboot, power loss) is sent its desired level at once with a
  new command; a lamp that keeps reporting another level than desired for longer than
  ``reconcile_grace_s`` is sent it again.
- After a restart, every lamp whose desired command was not acknowledged is queued again.

Outcomes (attempts, latency, error) are written in batches by a flusher task.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import logging
import random
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from lighting.config import DeliveryConfig
from lighting.const import ACKNOWLEDGED, FAILED, SUPERSEDED
from lighting.controller.faults import CONTROLLER, FaultBook
from lighting.controller.registry import LampEntry, Registry
from lighting.controller.rules import Expectation
from lighting.errors import DeliveryError
from lighting.metrics import Counters
from lighting.model import Ack, Command, FaultKind, StateReport
from lighting.storage import CommandOutcome, LampRecord, Store
from lighting.transports import CommandTransport
from lighting.transports.uplinks import Gate

log = logging.getLogger(__name__)

_FLUSH_INTERVAL_S = 0.2
FollowUp = Callable[[], Awaitable[None]]
"""What must be written before an attempt counts as done, run as a task of the engine."""


@dataclass(slots=True, eq=False)
class Pending:
    """A command on its way to one lamp."""

    lamp_id: str
    command: Command
    change_id: int | None
    attempts: int = 0
    first_sent: float | None = None
    due: float = 0.0
    """When it should go next; a heap entry with another due time is stale."""


def _cell_of(entry: LampEntry) -> str:
    """The pacing key: the lamp's NB-IoT cell, or the lamp itself when its cell is unknown
    (lamps that do not say their cell must not share one small allowance)."""
    return entry.cell or f"lamp:{entry.lamp_id}"


class DeliveryEngine:
    def __init__(
        self,
        transport: CommandTransport,
        store: Store,
        registry: Registry,
        faults: FaultBook,
        counters: Counters,
        *,
        config: DeliveryConfig,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
        rng: random.Random | None = None,
    ) -> None:
        self._transport = transport
        self._store = store
        self._registry = registry
        self._faults = faults
        self._counters = counters
        self.config = config
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self.desired: dict[str, int] = {}
        self.zone_levels: dict[str, int] = {}
        self._desired_at: dict[str, float] = {}
        """The latest level ordered for each zone: what a lamp joining the zone is given."""
        self._pending: dict[str, Pending] = {}
        self._in_flight: dict[str, Pending] = {}
        self._per_cell: Counter[str] = Counter()
        self._heap: list[tuple[float, int, str, Pending]] = []
        self._seq = itertools.count()
        self._waiting: defaultdict[str, deque[Pending]] = defaultdict(deque)
        self._parked: set[str] = set()
        self._unreachable: set[str] = set()
        self._mismatch_since: dict[str, float] = {}
        self._resends: Counter[str] = Counter()
        self._zone_of: dict[str, str] = {}
        self._active: defaultdict[int, set[str]] = defaultdict(set)
        self._unacked: defaultdict[int, set[str]] = defaultdict(set)
        self._outcomes: list[CommandOutcome] = []
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        """Who waits for a change to settle or a lamp to be idle (``_wait_for``)."""
        self._check: asyncio.Handle | None = None
        self._tasks: asyncio.TaskGroup | None = None
        """The running dispatcher's task group; None: stopped."""
        self._turn = 0
        self._cell_failures: Counter[str] = Counter()
        self.cells_down: set[str] = set()
        self._parked_by_cell: defaultdict[str, set[str]] = defaultdict(set)
        self.max_in_flight = 0
        self.max_in_flight_per_cell = 0
        self._sends = Gate()
        """Commands on the air: closed by ``drain``, which waits for them."""

    # -- what the controller asks ---------------------------------------------------------

    def load(self, lamps: Iterable[LampRecord], zone_levels: dict[str, int] | None = None) -> int:
        """Take the desired levels from the database and queue what was not delivered."""
        self.zone_levels.update(zone_levels or {})
        queued = 0
        for lamp in lamps:
            if lamp.desired_level is None:
                continue
            self.desired[lamp.lamp_id] = lamp.desired_level
            self._desired_at[lamp.lamp_id] = self._monotonic()
            if lamp.unreachable:
                self._unreachable.add(lamp.lamp_id)
            if lamp.desired_command_id is not None and not lamp.delivered:
                command = Command(command_id=lamp.desired_command_id, level=lamp.desired_level)
                self._queue(Pending(lamp.lamp_id, command, lamp.desired_change_id), 0.0)
                queued += 1
        if queued:
            log.info("resuming delivery to %d lamps", queued)
        return queued

    async def submit(
        self,
        zone: str,
        level: int,
        lamps: Sequence[LampEntry],
        *,
        reason: str,
        planned_at: datetime,
        zone_wide: bool = True,
    ) -> int:
        """Record a change of ``lamps`` to ``level`` and queue its commands; the change id.
        ``zone_wide`` (the default) makes it the zone's level, given to lamps that join."""
        repo = self._store.repository
        if zone_wide:
            # The zone's level from now on, before the change is recorded: a lamp that
            # registers meanwhile is not among ``lamps``, and is given this level when it
            # registers (else it would get the zone's old level, or none, until the next
            # change).
            self.zone_levels[zone] = level
        change_id, ids = await self._store.call(
            repo.create_change,
            zone=zone,
            level=level,
            reason=reason,
            planned_at=planned_at,
            lamp_ids=[lamp.lamp_id for lamp in lamps],
            now=self._clock(),
        )
        now = self._monotonic()
        for lamp in lamps:
            self.desired[lamp.lamp_id] = level
            self._desired_at[lamp.lamp_id] = now
            self._zone_of[lamp.lamp_id] = zone
            self._mismatch_since.pop(lamp.lamp_id, None)
            self._resends.pop(lamp.lamp_id, None)
            pending = Pending(lamp.lamp_id, Command(ids[lamp.lamp_id], level), change_id)
            self._queue(pending, now + self._rng.uniform(0, self.config.jitter_s))
        self._wake.set()
        return change_id

    async def resend(self, entry: LampEntry, reason: str) -> None:
        """Send the lamp its desired level again (a lamp new to its zone: the zone's latest
        level), with a new command."""
        lamp_id = entry.lamp_id
        if self._zone_of.get(lamp_id, entry.zone) != entry.zone:
            self.desired.pop(lamp_id, None)  # it moved: its new zone's level applies
        self._zone_of[lamp_id] = entry.zone
        level = self.desired.get(lamp_id, self.zone_levels.get(entry.zone))
        repo = self._store.repository
        while level is not None:
            if self.desired.get(lamp_id) != level:
                self._desired_at[lamp_id] = self._monotonic()
            self.desired[lamp_id] = level
            command_id = await self._store.call(
                repo.new_command, lamp_id, level, reason, self._clock()
            )
            # A change may have set another level while this was being written, and been
            # written before it: write again with the level that is desired now.
            now_desired = self.desired.get(lamp_id)
            if now_desired == level:
                break
            level, reason = now_desired, "a newer level arrived while resending"
        if level is None:
            return
        self._counters.incr("delivery.resent")
        log.info("lamp %s: sending %d%% again (%s)", entry.lamp_id, level, reason)
        self._queue(Pending(entry.lamp_id, Command(command_id, level), None), self._monotonic())
        self._wake.set()

    def expectation(self, entry: LampEntry, settle_s: float) -> Expectation | None:
        """What the lamp should do now, for the fault rules; None if it was never told."""
        level = self.desired.get(entry.lamp_id)
        if level is None:
            return None
        since = self._desired_at.get(entry.lamp_id)
        busy = entry.lamp_id in self._pending or entry.lamp_id in self._in_flight
        settled = not busy and since is not None and self._monotonic() - since >= settle_s
        return Expectation(level=level, settled=settled, wattage=entry.wattage)

    async def wait_settled(self, change_id: int) -> None:
        """Wait until every command of the change is acknowledged or parked (unreachable,
        asleep) or replaced by a newer one."""
        await self._wait_for(lambda: not self._active.get(change_id))

    async def wait_delivered(self, change_id: int) -> None:
        """Wait until every lamp of the change has acknowledged it (or a newer level)."""
        await self._wait_for(lambda: not self._unacked.get(change_id))

    async def wait_idle(self, lamp_id: str) -> None:
        """Wait until the lamp has no command waiting or on its way."""
        await self._wait_for(lambda: lamp_id not in self._pending)

    def in_flight_per_cell(self) -> dict[str, int]:
        return {cell: n for cell, n in self._per_cell.items() if n}

    def pending_count(self) -> int:
        return len(self._pending)

    # -- what the lamps say ---------------------------------------------------------------

    async def heard_from(self, entry: LampEntry) -> None:
        """Any uplink: an unreachable lamp is back, a sleepy lamp is listening, and its
        cell carries traffic again."""
        lamp_id = entry.lamp_id
        cell = _cell_of(entry)
        self._cell_failures[cell] = 0
        if cell in self.cells_down:
            self._cell_up(cell)
        if lamp_id in self._unreachable:
            await self._reachable_again(lamp_id)
        if lamp_id in self._parked:
            self._parked.discard(lamp_id)
            pending = self._pending.get(lamp_id)
            if pending is not None:
                pending.attempts = 0
                self._activate(pending)
                self._queue(pending, self._monotonic())
                self._wake.set()

    async def _reachable_again(self, lamp_id: str) -> None:
        """The lamp answered or spoke: clear its unreachable mark, record first."""
        if lamp_id not in self._unreachable:
            return
        try:
            await self._store.call(self._store.repository.set_unreachable, [lamp_id], False)
            await self._faults.resolve(lamp_id, FaultKind.UNREACHABLE, by=CONTROLLER)
        except Exception:
            log.exception(
                "could not record lamp %s reachable again; trying at its next word", lamp_id
            )
            return
        self._unreachable.discard(lamp_id)

    async def registered(self, entry: LampEntry) -> None:
        """A lamp registered after a power-up: it has lost its state, give it its level."""
        await self.heard_from(entry)
        await self.resend(entry, "lamp registered")

    async def reported(self, entry: LampEntry, report: StateReport) -> None:
        """Compare the reported level with the desired one; resend after the grace period."""
        lamp_id = entry.lamp_id
        desired = self.desired.get(lamp_id)
        if desired is None or lamp_id in self._pending or report.level == desired:
            self._mismatch_since.pop(lamp_id, None)
            if desired is not None and report.level == desired:
                self._resends.pop(lamp_id, None)
            return
        now = self._monotonic()
        since = self._mismatch_since.setdefault(lamp_id, now)
        # A lamp that keeps drifting (a stuck relay, a driver fault) is not resent every
        # grace period for ever: each resend doubles the wait before the next.
        grace = self.config.reconcile_grace_s * 2 ** min(self._resends[lamp_id], 10)
        if now - since >= grace:
            del self._mismatch_since[lamp_id]
            self._resends[lamp_id] += 1
            await self.resend(entry, f"lamp reports {report.level}%, should be {desired}%")

    # -- the loops ------------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch commands forever. The flusher, and the follow-ups of an attempt that
        write to the database (a lamp reachable again, or out of attempts), run in one task
        group; an attempt itself is a callback of the transport, not a task."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            tasks.create_task(self._flusher())
            try:
                while True:
                    self._dispatch()
                    timeout = self._heap[0][0] - self._monotonic() if self._heap else None
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(None if timeout is None else max(timeout, 0)):
                            await self._wake.wait()
                    self._wake.clear()
            finally:
                # Stopped from here on, before the group cancels its tasks: an attempt that
                # ends now puts nothing more into it.
                self._tasks = None

    def _dispatch(self) -> None:
        self._drain_due(self._monotonic())
        self._start_waiting()

    def _drain_due(self, now: float) -> None:
        """Move the commands that are due into their cells' queues (or park them)."""
        while self._heap and self._heap[0][0] <= now:
            due, _, lamp_id, pending = heapq.heappop(self._heap)
            if self._pending.get(lamp_id) is not pending or due != pending.due:
                continue  # replaced by a newer command, or queued again for another time
            if lamp_id in self._in_flight:
                continue  # its lamp is busy: _follow_up queues it when the exchange ends
            entry = self._entry(lamp_id)
            if entry is None:
                continue
            if entry.queue_mode and (
                entry.last_uplink is None or now - entry.last_uplink > self.config.wake_window_s
            ):
                self._park(pending, "asleep")
                continue
            if _cell_of(entry) in self.cells_down:
                self._park(pending, "cell-down")
                self._parked_by_cell[_cell_of(entry)].add(lamp_id)
                continue
            self._waiting[_cell_of(entry)].append(pending)

    async def drain(self, timeout_s: float) -> int:
        """Start no new command; let those on the air finish and be recorded (up to
        ``timeout_s``). How many were still on the air. The rest stay pending in the record
        and are sent again after a restart."""
        return await self._sends.drain(timeout_s)

    def _start_waiting(self) -> None:
        # Start commands round-robin over the cells, from a rotating first cell, so that no
        # cell waits while others use the city-wide allowance.
        if not self._sends.open:
            return
        total = len(self._in_flight)
        cells = [cell for cell, queue in self._waiting.items() if queue]
        if cells:
            self._turn = (self._turn + 1) % len(cells)
            cells = cells[self._turn :] + cells[: self._turn]
        started = True
        while started and total < self.config.concurrency:
            started = False
            for cell in cells:
                if total >= self.config.concurrency:
                    break
                if self._per_cell[cell] >= self.config.per_cell:
                    continue
                ready = self._next_waiting(cell)
                if ready is None:
                    continue
                self._per_cell[cell] += 1
                self._in_flight[ready.lamp_id] = ready
                total += 1
                started = True
                self._sends.enter()  # open: checked above, and nothing awaited since
                self._attempt(ready, cell)
        self.max_in_flight = max(self.max_in_flight, total)
        if self._per_cell:
            self.max_in_flight_per_cell = max(self.max_in_flight_per_cell, *self._per_cell.values())

    def _next_waiting(self, cell: str) -> Pending | None:
        queue = self._waiting[cell]
        while queue:
            pending = queue.popleft()
            if self._pending.get(pending.lamp_id) is pending and (
                pending.lamp_id not in self._in_flight
            ):
                return pending
        return None

    def _attempt(self, pending: Pending, cell: str) -> None:
        """Start one attempt of the command (its place in the gate is taken)."""
        if pending.first_sent is None:
            pending.first_sent = self._monotonic()
        pending.attempts += 1
        entry = self._entry(pending.lamp_id)
        if entry is None:
            self._attempted(pending, cell, "the lamp is no longer known")
            return
        try:
            self._transport.start(
                entry.target, pending.command, functools.partial(self._answered, pending, cell)
            )
        except DeliveryError as err:
            self._attempted(pending, cell, err.reason)
        except Exception as err:  # a bug must not stop deliveries to other lamps
            log.exception("sending to lamp %s failed unexpectedly", pending.lamp_id)
            self._attempted(pending, cell, f"{type(err).__name__}: {err}")

    def _answered(self, pending: Pending, cell: str, result: Ack | DeliveryError) -> None:
        self._attempted(pending, cell, result.reason if isinstance(result, DeliveryError) else None)

    def _attempted(self, pending: Pending, cell: str, error: str | None) -> None:
        """An attempt ended: free its places, then its bookkeeping; the gate is left once
        that is done (after the database is written, when it has to be)."""
        self._per_cell[cell] -= 1
        self._in_flight.pop(pending.lamp_id, None)
        self._wake.set()
        tasks = self._tasks
        if tasks is None:  # stopped: a send cut short by the closing transport is no failure
            self._sends.leave()
            return
        try:
            follow_up = self._done(pending, error)
        except Exception:
            log.exception("bookkeeping after a command to lamp %s failed", pending.lamp_id)
            follow_up = None
        if follow_up is None:
            self._sends.leave()
            return
        # The gate is left when the task ends, however it ends (even cancelled unstarted).
        task = tasks.create_task(self._follow(follow_up, pending.lamp_id))
        task.add_done_callback(self._left)

    async def _follow(self, follow_up: FollowUp, lamp_id: str) -> None:
        try:
            await follow_up()
        except Exception:
            log.exception("bookkeeping after a command to lamp %s failed", lamp_id)

    def _left(self, _task: asyncio.Task[None]) -> None:
        self._sends.leave()

    def _done(self, pending: Pending, error: str | None) -> FollowUp | None:
        """What the attempt's end means for the lamp; the part that writes to the database
        first (a lamp reachable again, or out of attempts), as a coroutine to run."""
        lamp_id = pending.lamp_id
        entry = self._entry(lamp_id)
        cell = _cell_of(entry) if entry is not None else ""
        if error is None:
            self._cell_failures[cell] = 0
            if cell in self.cells_down:
                self._cell_up(cell)
            if lamp_id in self._unreachable:
                return functools.partial(self._acknowledged_when_reachable, pending)
            self._acknowledged(pending)
            return None
        self._counters.incr("commands.attempts-failed")
        if self._pending.get(lamp_id) is not pending:
            # A newer command took its place while this one was out: send that one now.
            self._record(pending, SUPERSEDED, None, error)
            self._follow_up(lamp_id)
            self._settle(pending, acknowledged=False)
            return None
        self._cell_failures[cell] += 1
        if self._cell_failures[cell] >= self.config.cell_down_after and cell not in self.cells_down:
            self._cell_down(cell)
        if cell in self.cells_down:
            self._park(pending, "cell-down")
            self._parked_by_cell[cell].add(lamp_id)
            return None
        if pending.attempts >= self.config.max_attempts:
            self._record(pending, FAILED, None, error)
            return functools.partial(self._unreachable_now, pending, error)
        backoff = min(
            self.config.backoff_max_s, self.config.backoff_s * 2 ** (pending.attempts - 1)
        )
        self._queue(pending, self._monotonic() + backoff * self._rng.uniform(0.5, 1.0))
        return None

    async def _acknowledged_when_reachable(self, pending: Pending) -> None:
        await self._reachable_again(pending.lamp_id)
        self._acknowledged(pending)

    def _acknowledged(self, pending: Pending) -> None:
        lamp_id = pending.lamp_id
        self._counters.incr("commands.acknowledged")
        latency = self._monotonic() - (pending.first_sent or self._monotonic())
        self._record(pending, ACKNOWLEDGED, latency, None)
        if self._pending.get(lamp_id) is pending:
            del self._pending[lamp_id]
        else:
            self._follow_up(lamp_id)
        self._settle(pending, acknowledged=True)

    def _follow_up(self, lamp_id: str) -> None:
        """The lamp's exchange ended while a newer command waited for it (the dispatcher
        skips a busy lamp): queue the newer one now."""
        newer = self._pending.get(lamp_id)
        if newer is not None and lamp_id not in self._parked:
            self._queue(newer, self._monotonic())
            self._wake.set()

    def _cell_down(self, cell: str) -> None:
        """Every recent attempt in the cell failed: the base station looks down. Park its
        lamps instead of spending the cell's airtime on each, until one is heard from."""
        self.cells_down.add(cell)
        self._counters.incr("delivery.cells-down")
        queued = self._waiting.pop(cell, deque())
        for pending in queued:
            if self._pending.get(pending.lamp_id) is pending:
                self._park(pending, "cell-down")
                self._parked_by_cell[cell].add(pending.lamp_id)
        log.warning(
            "cell %s looks down: %d attempts in a row unanswered; %d lamps wait for it",
            cell,
            self._cell_failures[cell],
            len(self._parked_by_cell[cell]),
        )

    def _cell_up(self, cell: str) -> None:
        self.cells_down.discard(cell)
        lamps = self._parked_by_cell.pop(cell, set())
        log.info("cell %s carries traffic again: resuming %d lamps", cell, len(lamps))
        now = self._monotonic()
        for lamp_id in lamps:
            pending = self._pending.get(lamp_id)
            if pending is not None and lamp_id in self._parked and lamp_id not in self._unreachable:
                pending.attempts = 0
                self._queue(pending, now + self._rng.uniform(0, self.config.jitter_s))
        self._wake.set()

    async def _unreachable_now(self, pending: Pending, error: str) -> None:
        """Out of attempts: record the lamp unreachable (a fault), then park it."""
        lamp_id = pending.lamp_id
        try:
            if lamp_id not in self._unreachable:
                self._unreachable.add(lamp_id)
                self._counters.incr("lamps.unreachable")
                await self._store.call(self._store.repository.set_unreachable, [lamp_id], True)
                await self._faults.open(
                    lamp_id,
                    FaultKind.UNREACHABLE,
                    CONTROLLER,
                    f"{pending.attempts} attempts unanswered: {error}",
                )
        except Exception:
            # The lamp stays parked and marked in memory; the fault is opened again at its
            # next failure. The dispatcher must not die for a database hiccup.
            self._unreachable.discard(lamp_id)
            log.exception("could not record lamp %s unreachable", lamp_id)
        finally:
            self._park(pending, "unreachable")

    # -- bookkeeping ----------------------------------------------------------------------

    def _entry(self, lamp_id: str) -> LampEntry | None:
        return self._registry.find(lamp_id)

    def _queue(self, pending: Pending, due: float) -> None:
        old = self._pending.get(pending.lamp_id)
        if old is not None and old is not pending:
            self._supersede(old)
        self._pending[pending.lamp_id] = pending
        self._parked.discard(pending.lamp_id)
        self._activate(pending)
        pending.due = due
        heapq.heappush(self._heap, (due, next(self._seq), pending.lamp_id, pending))

    def _activate(self, pending: Pending) -> None:
        if pending.change_id is not None:
            self._active[pending.change_id].add(pending.lamp_id)
            self._unacked[pending.change_id].add(pending.lamp_id)

    def _supersede(self, old: Pending) -> None:
        if old.change_id is not None:
            self._discard(self._active, old.change_id, old.lamp_id)
            self._discard(self._unacked, old.change_id, old.lamp_id)
        self._notify_soon()

    def _park(self, pending: Pending, why: str) -> None:
        self._parked.add(pending.lamp_id)
        self._counters.incr(f"delivery.parked.{why}")
        if pending.change_id is not None:
            self._discard(self._active, pending.change_id, pending.lamp_id)
        self._notify_soon()

    def _settle(self, pending: Pending, *, acknowledged: bool) -> None:
        if pending.change_id is not None:
            self._discard(self._active, pending.change_id, pending.lamp_id)
            if acknowledged:
                self._discard(self._unacked, pending.change_id, pending.lamp_id)
        self._notify_soon()

    @staticmethod
    def _discard(sets: defaultdict[int, set[str]], change_id: int, lamp_id: str) -> None:
        members = sets.get(change_id)
        if members is not None:
            members.discard(lamp_id)
            if not members:
                del sets[change_id]

    async def _wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate`` holds (checked after each change of the deliveries)."""
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            await future
        finally:
            if future.cancelled():  # its waiting task was cancelled (else it was served)
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _notify_soon(self) -> None:
        """Check the waiters once this loop iteration is done: a burst of a few hundred
        acknowledgements is one check."""
        if self._waiters and self._check is None:
            self._check = asyncio.get_running_loop().call_soon(self._check_waiters)

    def _check_waiters(self) -> None:
        self._check = None
        waiting = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            if predicate():
                future.set_result(None)
            else:
                waiting.append((predicate, future))
        self._waiters = waiting

    def _record(
        self, pending: Pending, outcome: str, latency_s: float | None, error: str | None
    ) -> None:
        self._outcomes.append(
            CommandOutcome(
                command_id=pending.command.command_id,
                lamp_id=pending.lamp_id,
                outcome=outcome,
                completed_at=self._clock(),
                latency_ms=None if latency_s is None else round(latency_s * 1000, 3),
                attempts=pending.attempts,
                error=error,
            )
        )
        if len(self._outcomes) >= 500:
            self._flush_now.set()

    async def flush(self) -> None:
        """Write the outcomes gathered so far; on failure they are kept for the next try."""
        batch, self._outcomes = self._outcomes, []
        if not batch:
            return
        try:
            await self._store.call(self._store.repository.record_outcomes, batch)
        except BaseException:
            self._outcomes[:0] = batch
            raise

    async def _flusher(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_FLUSH_INTERVAL_S):
                    await self._flush_now.wait()
            self._flush_now.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("could not write command outcomes; keeping them for the next try")
