"""Ingest: registrations, reports and fault events from lamps, stored before they are answered.

Reports are written in batches (one transaction for many, with a bounded delay), and each
report is acknowledged to its lamp only once its batch is committed, so that nothing a lamp
was told is stored can be lost. A full buffer refuses the report (the lamp keeps it and
sends it again) rather than growing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime

from lighting.const import SOURCE_CONTROLLER
from lighting.controller.delivery import DeliveryEngine
from lighting.controller.events import EventHub
from lighting.controller.faults import FaultBook, newer
from lighting.controller.registry import LampEntry, Registry
from lighting.controller.rules import judge
from lighting.errors import LightingError, StorageError, UnknownLampError
from lighting.metrics import Counters
from lighting.model import FaultEvent, FaultKind, Registration, StateReport
from lighting.notices import LampNotice
from lighting.storage import Store
from lighting.storage.reports import DUPLICATE, LATE, NEWEST, RESTART
from lighting.transports import Target

log = logging.getLogger(__name__)

Received = tuple[StateReport, datetime]
_STORED_COUNTERS = {what: f"reports.{what}" for what in (NEWEST, RESTART, LATE, DUPLICATE)}


class _Chunk:
    """Reports handed in together (one, or a burst read off the socket), and their future."""

    __slots__ = ("future", "reports")

    def __init__(self, reports: list[Received], future: asyncio.Future[list[str]]) -> None:
        self.reports = reports
        self.future = future


class ReportWriter:
    """Collects reports and stores them in batches; ``submit`` returns once stored.

    With ``max_delay_s`` 0 (the default) a batch is written as soon as the one before is
    committed: a lone report waits for one transaction, a burst of thousands is written in
    a few. A positive ``max_delay_s`` lets a batch wait that long to fill instead.

    The buffer is bounded in reports, not in submissions: a chunk that would overflow it is
    refused whole (``StorageError``), and its lamps send again."""

    def __init__(
        self,
        store: Store,
        *,
        batch_size: int,
        max_delay_s: float,
        buffer: int,
        counters: Counters | None = None,
    ) -> None:
        self._store = store
        self._counters = counters if counters is not None else Counters()
        self._batch_size = batch_size
        self._max_delay_s = max_delay_s
        self.buffer = buffer
        self._chunks: deque[_Chunk] = deque()
        self._queued = 0
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()

    @property
    def room(self) -> int:
        """Reports the buffer can take now."""
        return max(self.buffer - self._queued, 0)

    @property
    def queued(self) -> int:
        """Reports waiting to be stored."""
        return self._queued

    async def submit(self, report: StateReport, received_at: datetime) -> str:
        """Store ``report``; whether it was the lamp's newest, late, or a duplicate."""
        (stored,) = await self.submit_many([(report, received_at)])
        return stored

    async def submit_many(self, reports: list[Received]) -> list[str]:
        """Store ``reports`` (in the batches to come); what each was, in order."""
        if self._queued + len(reports) > self.buffer:
            raise StorageError("the report buffer is full")
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._chunks.append(_Chunk(reports, future))
        self._queued += len(reports)
        self._arrived.set()
        if self._queued >= self._batch_size:
            self._full.set()
        return await future

    async def run(self) -> None:
        while True:
            await self._arrived.wait()
            if self._max_delay_s > 0 and self._queued < self._batch_size:
                # Wait a bounded time for the batch to fill.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._max_delay_s):
                        await self._full.wait()
            else:
                # Group commit: what arrived while the last batch was being written goes
                # now, in one transaction; under load the batches grow by themselves.
                await asyncio.sleep(0)
            batch: list[_Chunk] = []
            taken = 0
            while self._chunks and (not batch or taken < self._batch_size):
                chunk = self._chunks.popleft()
                batch.append(chunk)
                taken += len(chunk.reports)
            self._queued -= taken
            if not self._chunks:
                self._arrived.clear()
            if self._queued < self._batch_size:
                self._full.clear()
            await self._write(batch)

    async def _write(self, batch: list[_Chunk]) -> None:
        try:
            stored = await self._store.call(
                self._store.repository.store_reports,
                [received for chunk in batch for received in chunk.reports],
            )
        except StorageError as err:
            log.exception("could not store %d reports", sum(len(c.reports) for c in batch))
            for chunk in batch:
                if not chunk.future.done():
                    chunk.future.set_exception(err)
            return
        self._counters.incr("ingest.batches")
        self._counters.incr("ingest.batched", len(stored))
        at = 0
        for chunk in batch:
            count = len(chunk.reports)
            if not chunk.future.done():
                chunk.future.set_result(stored[at : at + count])
            at += count


class Ingest:
    """What the controller does with each uplink (the ``UplinkHandler`` of the transports)."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        faults: FaultBook,
        writer: ReportWriter,
        counters: Counters,
        *,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
        delivery: DeliveryEngine,
        events: EventHub,
    ) -> None:
        self._registry = registry
        self._store = store
        self._faults = faults
        self._writer = writer
        self._counters = counters
        self._clock = clock
        self._monotonic = monotonic
        self._delivery = delivery
        self._events = events

    async def on_registration(self, registration: Registration, address: str, port: int) -> bool:
        return (await self.on_registrations([(registration, address, port)]))[0]

    async def on_registrations(
        self, registrations: list[tuple[Registration, str, int]]
    ) -> list[bool]:
        """Take a burst of registrations (each with the address and port it came from):
        stored in one transaction, then each lamp taken into the registry and the delivery;
        per registration, True if the lamp is new. ``StorageError`` if it cannot be stored."""
        news = await self._store.call(
            self._store.repository.register_lamps, registrations, self._clock()
        )
        for (registration, address, port), new in zip(registrations, news, strict=True):
            await self._registered(registration, address, port, new=new)
        return news

    async def _registered(
        self, registration: Registration, address: str, port: int, *, new: bool
    ) -> None:
        entry = LampEntry(
            target=Target(registration.lamp_id, address, port),
            zone=registration.zone,
            cell=registration.cell,
            report_period_s=registration.report_period_s,
            last_heard=self._monotonic(),
            last_uplink=self._monotonic(),
            queue_mode=registration.queue_mode,
            latitude=registration.latitude,
            longitude=registration.longitude,
            wattage=registration.wattage,
        )
        was_out = (
            registration.lamp_id in self._registry
            and not self._registry.get(registration.lamp_id).in_contact
        )
        self._registry.upsert(entry)
        self._counters.incr("lamps.registered" if new else "lamps.re-registered")
        log.info(
            "lamp %s %s from %s:%d (zone %s)",
            registration.lamp_id,
            "registered" if new else "registered again",
            address,
            port,
            registration.zone,
        )
        if was_out:
            await self._faults.resolve(
                registration.lamp_id, FaultKind.COMMS_LOST, by=SOURCE_CONTROLLER
            )
        await self._delivery.registered(entry)

    async def on_report(self, report: StateReport) -> None:
        entry = self._registry.get(report.lamp_id)
        stored = await self._writer.submit(report, self._clock())
        await self._took(report, entry, stored)

    async def on_reports(self, reports: list[StateReport]) -> list[LightingError | None]:
        """Take a burst of reports in one submission; per report, None once it is stored
        and taken, or why it was refused: an unknown lamp, or a full buffer for the part of
        the burst that does not fit (those lamps send again). ``StorageError`` when the
        database refuses the batch."""
        refused: list[LightingError | None] = [None] * len(reports)
        known: list[tuple[StateReport, LampEntry]] = []
        room = self._writer.room
        for index, report in enumerate(reports):
            if len(known) >= room:
                self._counters.incr("ingest.refused.buffer-full")
                refused[index] = StorageError("the report buffer is full")
                continue
            try:
                known.append((report, self._registry.get(report.lamp_id)))
            except UnknownLampError as err:
                refused[index] = err
        if known:
            now = self._clock()
            stored = await self._writer.submit_many([(report, now) for report, _ in known])
            for (report, entry), what in zip(known, stored, strict=True):
                await self._took(report, entry, what)
        return refused

    async def _took(self, report: StateReport, entry: LampEntry, stored: str) -> None:
        """What follows a stored report: contact, delivery, faults, and the notice (timed
        when it is emitted, after any notice the report caused before it)."""
        self._counters.incr(_STORED_COUNTERS[stored])
        if self._registry.heard(report.lamp_id, self._monotonic()):
            await self._back_in_contact(entry)
        await self._delivery.heard_from(entry)
        if stored == RESTART:
            # The lamp counts from the start again without having registered: the storage
            # started a new boot for its reports, and its word starts again too.
            log.warning(
                "lamp %s: report %d far behind its newest without a registration: "
                "its reports count from a new start",
                report.lamp_id,
                report.seq,
            )
            self._counters.incr("ingest.counting-again")
            entry.said_all = -1
            entry.said.clear()
        if stored in (NEWEST, RESTART):
            # Only the lamp's latest word counts: a late report must not close a live fault.
            entry.level, entry.power_w = report.level, report.power_w
            await self._faults.reconcile(entry, report.faults, report.seq)
            rules = self._faults.rules
            expected = self._delivery.expectation(entry, rules.settle_s)
            await self._faults.judge(entry, judge(report, expected, rules))
            await self._delivery.reported(entry, report)
            self._events.emit(lamp_notice(entry, self._clock(), rules.power_slack_w))

    async def on_fault(self, event: FaultEvent) -> None:
        entry = self._registry.get(event.lamp_id)
        self._counters.incr("faults.events")
        if self._registry.heard(event.lamp_id, self._monotonic()):
            await self._back_in_contact(entry)
        await self._delivery.heard_from(entry)
        await self._store.call(self._store.repository.touch, event.lamp_id, self._clock())
        if not newer(entry, event.kind, event.seq):
            self._counters.incr("faults.events_stale")
            log.debug(
                "lamp %s: event %d on %s is older than its word",
                entry.lamp_id,
                event.seq,
                event.kind.slug,
            )
            return
        entry.said[event.kind] = event.seq
        await self._faults.lamp_says(entry, event.kind, event.active)

    async def _back_in_contact(self, entry: LampEntry) -> None:
        log.info("lamp %s is back in contact", entry.lamp_id)
        await self._faults.resolve(entry.lamp_id, FaultKind.COMMS_LOST, by=SOURCE_CONTROLLER)
        self._events.emit(lamp_notice(entry, self._clock(), self._faults.rules.power_slack_w))


def lamp_notice(entry: LampEntry, at: datetime, slack_w: float) -> LampNotice:
    """The lamp's state as the controller knows it, for the event hub."""
    power = entry.power_w
    return LampNotice(
        lamp_id=entry.lamp_id,
        zone=entry.zone,
        latitude=entry.latitude,
        longitude=entry.longitude,
        level=entry.level,
        power_w=power,
        lit=power is not None and power > slack_w,
        in_contact=entry.in_contact,
        faults=frozenset(entry.lamp_faults | entry.inferred),
        at=at,
    )
