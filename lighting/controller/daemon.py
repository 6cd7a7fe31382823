"""The controller daemon: ties plan, transport, storage and faults together.

``Controller`` is an async context manager. On entry it opens the database, loads the
lamps it knows, opens the CoAP endpoint, and starts its background loops (the report
writer and the contact watchdog) in one ``TaskGroup`` that it owns; on exit it stops them
and closes everything in reverse order. Time is injected (``clock`` for wall time,
``monotonic`` for intervals) so tests can fire a plan change at any instant.

Data flows:
- plan to lamp: ``plans(date)`` computes each zone's night with ``schedules``;
  ``apply_plan(now)`` or a scheduled job gives ``apply_level(zone, level)``, which fans the
  command out to every lamp of the zone and records each outcome;
- lamp to fault: the transport hands uplinks to ``Ingest``, which stores them and lets the
  ``FaultBook`` open or resolve faults; the watchdog opens ``comms-lost`` for lamps that
  stop reporting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from lighting.config import Settings
from lighting.const import ACTIVE
from lighting.controller.control import ControlServer
from lighting.controller.delivery import DeliveryEngine
from lighting.controller.events import EventHub
from lighting.controller.faults import CONTROLLER, FaultBook
from lighting.controller.health import HealthServer
from lighting.controller.housekeeping import Housekeeping
from lighting.controller.ingest import Ingest, ReportWriter, lamp_notice
from lighting.controller.memory import Collector
from lighting.controller.operator import OperatorDesk
from lighting.controller.registry import LampEntry, Registry
from lighting.controller.scheduling import NightScheduler
from lighting.keys import KeyStore
from lighting.metrics import Counters
from lighting.model import FaultKind
from lighting.storage import ChangeRecord, Repository, Store
from lighting.transports import CoapTransport, LeanCoapTransport, MqttLink
from schedules import NightPlan, change_in_force, level_at, plan_zones

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 30
"""How long shutdown waits for uplinks in hand to be stored."""
SEND_DRAIN_S = 10
"""How long a normal stop waits for the commands on the air (those left stay pending)."""
INSECURE = (
    'CoAP without OSCORE ([coap] security = "insecure"): anyone who reaches the controller '
    "can report as any lamp, and anyone who reaches a lamp can switch it. For labs only."
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def night_of(instant: datetime, settings: Settings) -> date:
    """The date of the night that ``instant`` belongs to: nights run from noon to noon."""
    local = instant.astimezone(settings.site_value.tzinfo)
    return local.date() if local.hour >= 12 else local.date() - timedelta(days=1)


class Controller:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.monotonic = monotonic
        self.counters = Counters()
        self.events = EventHub(self.counters)
        """The controller's notices (lamp states, faults, incidents) for every listener."""
        self.registry = Registry()
        self._stack = AsyncExitStack()
        self._tasks: asyncio.TaskGroup | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._store: Store | None = None
        self.delivery: DeliveryEngine | None = None
        self.faults: FaultBook | None = None
        self.ingest: Ingest | None = None
        self._mqtt: MqttLink | None = None
        self.transport: CoapTransport | LeanCoapTransport | None = None
        self._scheduler: NightScheduler | None = None
        self.desk = OperatorDesk(self)
        """What an operator can order (overrides, acknowledgements), for the control channel."""
        self._delivery_loop: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[None]] = set()
        self.control: ControlServer | None = None
        """The control channel while the daemon runs (``[control] enabled``)."""
        self.health: HealthServer | None = None
        """Health and metrics over HTTP while the daemon runs (``[metrics] enabled``)."""
        self.memory = Collector(settings.memory, self.counters)
        """The garbage collector's tuning while the controller runs (``[memory]``)."""
        self.writer: ReportWriter | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def _coap_transport(self) -> CoapTransport | LeanCoapTransport:
        """The CoAP transport the settings ask for, with the lamps' keys unless ``insecure``;
        the key store closes (writing its state) after the transport."""
        coap = self.settings.coap
        directory = coap.key_directory()
        common: dict[str, Any] = {
            "ack_timeout_s": coap.ack_timeout_s,
            "max_retransmit": coap.max_retransmit,
            "receive_buffer_bytes": coap.receive_buffer_bytes,
        }
        if coap.stack == "aiocoap":
            log.warning(INSECURE)
            return CoapTransport((coap.host, coap.port), self.counters, **common)
        keys: KeyStore | None = None
        if directory is None:
            log.warning(INSECURE)
        else:
            keys = KeyStore(directory, "controller")
            await asyncio.to_thread(keys.open)
            self._stack.callback(keys.close)
        return LeanCoapTransport((coap.host, coap.port), self.counters, keys=keys, **common)

    async def __aenter__(self) -> Self:
        settings = self.settings
        # A calendar with validation errors is refused (ConfigError) before anything opens.
        for warning in settings.require_valid_calendars(night_of(self.clock(), settings)):
            log.warning("schedule %s", warning)
        try:
            self._stack.enter_context(self.memory)
            repository = await asyncio.to_thread(Repository.open, settings.database_url)
            store = self._store = await self._stack.enter_async_context(Store(repository))
            lamps = await store.call(repository.lamps)
            faults = await store.call(repository.faults, status=ACTIVE)
            self.registry.load(lamps, faults, self.monotonic())
            self.faults = FaultBook(
                store,
                self.clock,
                events=self.events,
                registry=self.registry,
                rules=settings.faults,
            )
            writer = self.writer = ReportWriter(
                store,
                batch_size=settings.ingest.batch_size,
                max_delay_s=settings.ingest.max_delay_s,
                buffer=settings.ingest.buffer,
                counters=self.counters,
            )
            transport = await self._coap_transport()
            self.delivery = DeliveryEngine(
                transport,
                store,
                self.registry,
                self.faults,
                self.counters,
                config=settings.delivery,
                clock=self.clock,
                monotonic=self.monotonic,
            )
            self.delivery.load(lamps, await store.call(repository.zone_levels))
            transport.handler = self.ingest = Ingest(
                self.registry,
                store,
                self.faults,
                writer,
                self.counters,
                clock=self.clock,
                monotonic=self.monotonic,
                delivery=self.delivery,
                events=self.events,
            )
            self.transport = await self._stack.enter_async_context(transport)
            self._tasks = await self._stack.enter_async_context(asyncio.TaskGroup())
            self._delivery_loop = self._tasks.create_task(self.delivery.run(), name="delivery")
            self._loops = [
                self._tasks.create_task(writer.run(), name="report writer"),
                self._delivery_loop,
                self._tasks.create_task(self._watchdog(), name="contact watchdog"),
                self._tasks.create_task(
                    Housekeeping(
                        store,
                        settings.retention,
                        clock=self.clock,
                        rollup_interval_s=settings.retention.rollup_interval_s,
                    ).run(),
                    name="housekeeping",
                ),
                self._tasks.create_task(self.memory.run(), name="collector"),
            ]
            await self.desk.load()
            if settings.control.enabled:
                # Dashboards and the CLI (docs/architecture.md, How views connect).
                self.control = await self._stack.enter_async_context(
                    ControlServer(self, settings.control)
                )
            if settings.metrics.enabled:
                # Monitoring (docs/operations.md).
                self.health = await self._stack.enter_async_context(
                    HealthServer(self, settings.metrics)
                )
            if settings.mqtt.enabled:
                # Lamp telemetry from a broker, notices to it (docs/protocol.md, MQTT).
                link = self._mqtt = await self._stack.enter_async_context(
                    MqttLink(settings.mqtt, self.ingest, self.events, self.counters)
                )
                self._loops += [
                    self._tasks.create_task(loop, name=name) for name, loop in link.loops()
                ]
        except BaseException:
            # The task group waits for its tasks on the way out: stop them first.
            for task in [*self._loops, *self._jobs]:
                task.cancel()
            self._loops = []
            await self._stack.aclose()
            raise
        # What is loaded now lives as long as the daemon: out of the collector's way.
        self.memory.settle()
        log.info(
            "controller ready: %d lamps known, zones %s",
            len(self.registry),
            ", ".join(settings.zones),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Stop taking uplinks first, while the report writer still runs to answer those in
        # hand; then stop the loops; then close the rest in reverse order.
        # Stop sending first: a send cut short by a closing transport is not a lamp's failure.
        # On a normal stop (SIGTERM) the commands on the air are let finish and recorded.
        if exc_type is None and self.delivery is not None and self._delivery_loop is not None:
            left = await self.delivery.drain(SEND_DRAIN_S)
            if left:
                log.warning(
                    "%d commands still on the air after %d s: stopping anyway",
                    left,
                    SEND_DRAIN_S,
                )
        if self._delivery_loop is not None:
            self._delivery_loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery_loop
        if self.transport is not None:
            await self.transport.aclose()
        if self._mqtt is not None and self._mqtt.ingest is not None:
            try:
                async with asyncio.timeout(DRAIN_TIMEOUT_S):
                    await self._mqtt.ingest.drain()
            except TimeoutError:
                log.warning(
                    "MQTT uplinks still unstored after %d s: stopping anyway", DRAIN_TIMEOUT_S
                )
        for task in [*self._loops, *self._jobs]:
            task.cancel()
        self._loops = []
        if self.delivery is not None:
            try:
                await self.delivery.flush()
            except Exception:
                log.exception("could not write the last command outcomes")
        await self._stack.aclose()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the controller is not running")
        return self._store

    @property
    def repository(self) -> Repository:
        return self.store.repository

    @property
    def address(self) -> tuple[str, int]:
        """The address lamps send to (with the port actually bound)."""
        return self.settings.coap.host, self.settings.coap.port

    # -- plans ----------------------------------------------------------------------------

    def plans(self, night: date) -> dict[str, NightPlan]:
        """Each zone's plan for the night of ``night``: its calendar and the overrides."""
        settings = self.settings
        site = settings.site_value
        overrides = settings.override_values + self.desk.plan_overrides()
        calendars = {zone: settings.zone_calendar(zone) for zone in settings.zones}
        return plan_zones(site, calendars, overrides, night)

    async def apply_level(
        self, zone: str, level: int, reason: str, planned_at: datetime
    ) -> ChangeRecord:
        """Give every lamp of ``zone`` the level ``level``; the change as recorded once every
        command is acknowledged or parked (lamp unreachable or asleep)."""
        change_id = await self.submit_level(zone, level, reason, planned_at)
        return await self.settle(change_id)

    async def submit_level(self, zone: str, level: int, reason: str, planned_at: datetime) -> int:
        """Record and queue a change of ``zone`` to ``level``; its id, without waiting."""
        if self.delivery is None:
            raise RuntimeError("the controller is not running")
        held = self.desk.held_lamps(self.clock())
        lamps = [entry for entry in self.registry.in_zone(zone) if entry.lamp_id not in held]
        return await self.delivery.submit(zone, level, lamps, reason=reason, planned_at=planned_at)

    async def submit_lamp(self, entry: LampEntry, level: int, reason: str) -> int:
        """Record and queue a change of one lamp to ``level`` (an operator's override)."""
        if self.delivery is None:
            raise RuntimeError("the controller is not running")
        now = self.clock()
        return await self.delivery.submit(
            entry.zone, level, [entry], reason=reason, planned_at=now, zone_wide=False
        )

    async def restore_lamp(self, entry: LampEntry, reason: str) -> None:
        """Give a lamp its zone's level in force again (its override is over)."""
        level = self.level_in_force(entry.zone, self.clock())
        await self.submit_lamp(entry, level, reason)

    def level_in_force(self, zone: str, now: datetime) -> int:
        """The level the plan (with the overrides) puts in force in ``zone`` at ``now``."""
        plan = self.plans(night_of(now, self.settings))[zone]
        return level_at(plan, now)

    async def start_zone(self, zone: str, now: datetime) -> int:
        """Send ``zone`` the level its plan puts in force at ``now``, without waiting: the
        change settles in the daemon's task group. Its id."""
        plan = self.plans(night_of(now, self.settings))[zone]
        change = change_in_force(plan, now)
        override = change.override if change is not None else None
        reason = f"override {override.name}" if override else f"program {plan.program.name}"
        change_id = await self.submit_level(zone, level_at(plan, now), reason, now)
        self.spawn(self._contained(self.settle(change_id), zone), f"settle {change_id}")
        return change_id

    async def apply_zone(self, zone: str, now: datetime) -> ChangeRecord:
        """Send ``zone`` the level its plan puts in force at ``now`` and wait for it."""
        plan = self.plans(night_of(now, self.settings))[zone]
        change = change_in_force(plan, now)
        override = change.override if change is not None else None
        reason = f"override {override.name}" if override else f"program {plan.program.name}"
        return await self.apply_level(zone, level_at(plan, now), reason, now)

    async def settle(self, change_id: int) -> ChangeRecord:
        """Wait for a change to settle, then record and return its counts."""
        if self.delivery is None:
            raise RuntimeError("the controller is not running")
        await self.delivery.wait_settled(change_id)
        await self.delivery.flush()
        change = await self.store.call(self.repository.finish_change, change_id, self.clock())
        log.info(
            "change %d: zone %s to %d%% (%s): %d of %d acknowledged, %d failed",
            change.change_id,
            change.zone,
            change.level,
            change.reason,
            change.acknowledged,
            change.total,
            change.failed,
        )
        return change

    async def apply_plan(self, now: datetime) -> list[ChangeRecord]:
        """Send every zone the level its plan puts in force at ``now``.

        Every zone is submitted before any is waited for: the city changes at once, paced by
        cell, and a zone with a dead lamp does not hold back the others.
        """
        night = night_of(now, self.settings)
        submitted = []
        for zone, plan in self.plans(night).items():
            level = level_at(plan, now)
            change = change_in_force(plan, now)
            override = change.override if change is not None else None
            reason = f"override {override.name}" if override else f"program {plan.program.name}"
            submitted.append(await self.submit_level(zone, level, reason, now))
        return list(await asyncio.gather(*(self.settle(change_id) for change_id in submitted)))

    # -- contact --------------------------------------------------------------------------

    async def check_contact(self) -> list[str]:
        """Mark lamps that stopped reporting as out of contact; their ids."""
        if self.faults is None:
            return []
        overdue = self.registry.overdue(self.monotonic(), self.settings.contact.missed_reports)
        if not overdue:
            return []
        for entry in overdue:
            entry.in_contact = False
        ids = [entry.lamp_id for entry in overdue]
        await self.store.call(self.repository.set_contact, ids, False)
        # A lamp may have reported while the database was being written.
        still = [entry for entry in overdue if not entry.in_contact]
        by_period: dict[int, list[str]] = {}
        for entry in still:
            by_period.setdefault(entry.report_period_s, []).append(entry.lamp_id)
        missed = self.settings.contact.missed_reports
        for period, lamp_ids in by_period.items():
            detail = f"no report for {missed * period} s"
            await self.faults.open_many(lamp_ids, FaultKind.COMMS_LOST, CONTROLLER, detail)
        slack = self.settings.faults.power_slack_w
        for entry in still:
            self.events.emit(lamp_notice(entry, self.clock(), slack))
        log.warning("%d lamps out of contact: %s", len(ids), ", ".join(ids[:10]))
        return ids

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self.settings.contact.check_interval_s)
            try:
                await self.check_contact()
            except Exception:
                log.exception("contact check failed; trying again next interval")

    # -- the night ------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event) -> None:
        """Run unattended: schedule the night, apply the level in force, re-plan at noon.

        The night is scheduled first, so that a change falling due while the level in force
        is still being sent is not skipped.
        """
        tz = self.settings.site_value.tzinfo
        scheduler = self._scheduler = NightScheduler(tz, self._scheduled_change, self._replan)
        scheduler.start()
        try:
            now = self.clock()
            await self._replan()
            # A stop (SIGTERM) must not wait for the whole city to acknowledge the level.
            applying = asyncio.ensure_future(self.apply_plan(now))
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({applying, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if applying.done():
                    applying.result()
                    await stopping
            finally:
                for task in (applying, stopping):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await applying
        finally:
            scheduler.shutdown()
            self._scheduler = None

    async def _scheduled_change(
        self, zone: str, level: int, reason: str, planned_at: datetime
    ) -> None:
        """A job of the night: run the change in the daemon's own task group, so that
        shutdown cancels it and an error in it is logged instead of lost in APScheduler."""
        self.spawn(
            self._contained(self.apply_level(zone, level, reason, planned_at), zone),
            f"change {zone} {level}%",
        )

    @staticmethod
    async def _contained(change: Coroutine[Any, Any, ChangeRecord], zone: str) -> None:
        try:
            await change
        except Exception:
            log.exception("the scheduled change of zone %s failed; the next one will run", zone)

    @property
    def scheduled(self) -> NightScheduler | None:
        """The night's scheduler while ``serve`` runs."""
        return self._scheduler

    def spawn(self, job: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
        """Run ``job`` in the daemon's task group (None if the daemon is not running); shutdown
        cancels it, as it cancels the loops."""
        if self._tasks is None:
            job.close()
            return None
        task = self._tasks.create_task(job, name=name)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        return task

    async def replan(self) -> None:
        """Plan the night again (an override came or went) and schedule its changes anew."""
        await self._replan()

    async def _replan(self) -> None:
        """Plan the night now in progress (or starting) and schedule its changes."""
        now = self.clock()
        night = night_of(now, self.settings)
        plans = self.plans(night)
        for zone, plan in plans.items():
            for note in plan.notes:
                log.warning("zone %s, night of %s: %s", zone, night, note)
        if self._scheduler is not None:
            self._scheduler.clear_changes()
            self._scheduler.schedule(plans, now)
