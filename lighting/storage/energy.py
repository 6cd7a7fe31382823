"""Energy in the record: hourly roll-ups of the reports, their retention, energy per night.

The roll-up turns the reports' counters into one row per lamp and UTC hour (``HourlyRow``):
each report closes an interval since the lamp's report before it (in the lamp's order:
boot, then sequence), spread over the hours it overlaps; the rules (restarts, reboots,
reports out of order) are the pure ``lighting.energy.interval`` and ``hour_shares``.

Increments. A roll-up reads only the reports stored since the last one (ids above the
watermark kept in ``RollupRow``), at most ``batch`` at a time, and adds their intervals to
the hourly rows. The report a lamp's first new one follows is found through the unique
index (lamp, boot, seq), so a run costs what is new, not the hours it touches. A report
that arrives after newer ones of its lamp splits an interval already counted: that
interval is taken back and the two halves added, so the rows come out as if the reports
had arrived in order, however late. A re-run with nothing new changes nothing. Each batch
begins by writing the watermark row, which serialises concurrent roll-ups (the daemon and
a ``lighting energy``) on SQLite as on PostgreSQL. It assumes that report ids are committed
in increasing order, which holds with one writer of reports (the daemon's database thread).

Retention. ``prune`` deletes, in bounded batches, reports older than ``reports_days`` that
are rolled up already (never the last one counted, so that SQLite never hands out an id
below the watermark again), and hourly rows older than ``hourly_days``.

Nights. An hour belongs to the night (local noon to noon) that holds its middle; that
matters only in zones with half-hour offsets, where an hour straddles noon, lamps off.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    tuple_,
    update,
)
from sqlmodel import Session, SQLModel, col

from lighting.energy import Reading, hour_of, hour_shares, interval
from lighting.storage.base import RepositoryBase, chunks, to_record
from lighting.storage.records import HourlyRecord, NightEnergy, PruneResult, RollupResult
from lighting.storage.tables import HourlyRow, LampRow, ReportRow, RollupRow
from schedules import night_of
from schedules.wallclock import night_window

log = logging.getLogger(__name__)

ROLLUP = "hourly"
"""The name of the hourly roll-up's watermark row."""
_HALF_HOUR = timedelta(minutes=30)
_CHUNK = 1000  # values in one IN list
_NIGHTS_PER_QUERY = 62  # branches of one CASE

_COLUMNS = (
    col(ReportRow.lamp_id),
    col(ReportRow.boot),
    col(ReportRow.seq),
    col(ReportRow.received_at),
    col(ReportRow.level),
    col(ReportRow.power_w),
    col(ReportRow.energy_wh),
    col(ReportRow.burning_s),
    col(ReportRow.id),
)
"""A report's columns in the order of ``Reading``'s fields."""


@dataclass(slots=True)
class _Delta:
    energy_wh: float = 0.0
    burning_s: float = 0.0
    level_s: float = 0.0
    covered_s: float = 0.0
    power_max_w: float = 0.0
    reports: int = 0


_SUMS = ("energy_wh", "burning_s", "level_s", "covered_s")
_NIGHT_SUMS = (*_SUMS, "reports")
_KEPT = ("id", "lamp_id", *_SUMS, "power_max_w", "reports")
_NONE: dict[str, Any] = {"id": None, **dict.fromkeys(_KEPT[2:], 0)}
_Deltas = defaultdict[tuple[str, datetime], _Delta]


def _add(deltas: _Deltas, prev: Reading | None, reading: Reading, sign: float) -> None:
    for share in hour_shares(interval(prev, reading)):
        delta = deltas[reading.lamp_id, share.hour]
        delta.energy_wh += sign * share.energy_wh
        delta.burning_s += sign * share.burning_s
        delta.level_s += sign * share.level_s
        delta.covered_s += sign * share.covered_s


def _tidy(value: float) -> float:
    """No hour draws less than nothing: float residue of a taken-back interval is 0."""
    return value if value > 1e-9 else 0.0


class EnergyStore(RepositoryBase):
    """The energy part of the repository: roll-up, retention and energy per night."""

    def ensure_energy_tables(self) -> None:
        """Create the roll-up tables in a database made before they existed."""
        tables = [SQLModel.metadata.tables[name] for name in ("hourly", "rollup")]
        with self._session() as s:
            SQLModel.metadata.create_all(s.connection(), tables=tables)

    # -- roll-up --------------------------------------------------------------------------

    def rollup(
        self, until: datetime, *, batch: int = 20_000, max_rows: int = 50_000
    ) -> RollupResult:
        """Count into the hourly rows at most ``batch`` reports not counted yet, in the
        order they were stored, stopping at the first received at or after ``until``.

        One transaction; call it again while the result is not ``done``. Reports after long
        silences spread over many hours: a batch that would write more than ``max_rows``
        rows is halved until it does not (or is one report).
        """
        with self._session() as s:
            watermark = self._claim(s, until)
            rows = s.execute(
                select(*_COLUMNS)
                .where(col(ReportRow.id) > watermark)
                .order_by(col(ReportRow.id))
                # One more than asked: whether more are waiting.
                .limit(batch + 1)
            ).all()
            new: list[Reading] = []
            done = len(rows) <= batch
            for row in rows[:batch]:
                report = Reading(*row)
                if report.at >= until:
                    done = True
                    break
                new.append(report)
            if not new:
                return RollupResult(reports=0, hours=0, last_report_id=watermark, done=done)
            deltas, zones = self._deltas(s, new, watermark)
            while len(deltas) > max_rows and len(new) > 1:
                new, done = new[: len(new) // 2], False
                deltas, zones = self._deltas(s, new, watermark)
            hours = self._write(s, deltas, zones)
            last = new[-1].ref
            s.execute(
                update(RollupRow).where(col(RollupRow.name) == ROLLUP).values(last_report_id=last)
            )
        log.debug("rolled up %d reports into %d hourly rows", len(new), hours)
        return RollupResult(reports=len(new), hours=hours, last_report_id=last, done=done)

    @staticmethod
    def _claim(s: Session, until: datetime) -> int:
        """Take the roll-up's lock (a write first, on both databases) and its watermark."""
        claimed: CursorResult[Any] = s.connection().execute(
            update(RollupRow).where(col(RollupRow.name) == ROLLUP).values(updated_at=until)
        )
        if claimed.rowcount == 0:
            s.add(RollupRow(name=ROLLUP, last_report_id=0, updated_at=until))
            s.flush()
            return 0
        watermark = s.execute(
            select(col(RollupRow.last_report_id)).where(col(RollupRow.name) == ROLLUP)
        ).scalar_one()
        newest = s.execute(select(func.max(col(ReportRow.id)))).scalar_one_or_none() or 0
        if newest < watermark:
            # Prune always keeps the last report counted: the reports were deleted by hand.
            log.warning("report ids restart below the roll-up's %d: counting anew", watermark)
            s.execute(
                update(RollupRow).where(col(RollupRow.name) == ROLLUP).values(last_report_id=0)
            )
            return 0
        return int(watermark)

    def _deltas(
        self, s: Session, new: Sequence[Reading], watermark: int
    ) -> tuple[_Deltas, dict[str, str]]:
        """What the new reports change, per lamp and hour; and the zone of each lamp."""
        by_lamp: dict[str, list[Reading]] = defaultdict(list)
        for report in new:
            by_lamp[report.lamp_id].append(report)
        tails, zones = self._tails(s, list(by_lamp), watermark)
        deltas: _Deltas = defaultdict(_Delta)
        for lamp_id, reports in by_lamp.items():
            reports.sort(key=lambda r: r.order)
            tail = tails.get(lamp_id)
            known = {} if tail is None else {tail.ref: tail}
            for report in reports:
                if tail is not None and report.order < tail.order:  # arrived late
                    for before in (True, False):
                        if found := self._next(s, report, watermark, before=before):
                            known[found.ref] = found
            fresh = {report.ref for report in reports}
            prev: Reading | None = None
            last_old: Reading | None = None
            for report in sorted([*known.values(), *reports], key=lambda r: r.order):
                if report.ref in fresh:
                    _add(deltas, prev, report, 1.0)
                    counted = deltas[lamp_id, hour_of(report.at)]
                    counted.reports += 1
                    counted.power_max_w = max(counted.power_max_w, report.power_w)
                else:
                    if prev is not None and prev.ref in fresh:
                        # An old report after new ones: the interval it closed is split.
                        _add(deltas, last_old, report, -1.0)
                        _add(deltas, prev, report, 1.0)
                    last_old = report
                prev = report
        return deltas, zones

    @staticmethod
    def _tails(
        s: Session, lamp_ids: Sequence[str], watermark: int
    ) -> tuple[dict[str, Reading], dict[str, str]]:
        """Each lamp's last report counted already (by boot and sequence), and its zone.

        Both come through the lamp table: a lamp deleted from it by hand has neither, and
        its next report counts as its first (zone "").
        """
        tail_id = (
            select(col(ReportRow.id))
            .where(col(ReportRow.lamp_id) == col(LampRow.lamp_id))
            .where(col(ReportRow.id) <= watermark)
            .order_by(col(ReportRow.boot).desc(), col(ReportRow.seq).desc())
            .limit(1)
            .correlate(LampRow)
            .scalar_subquery()
        )
        zones: dict[str, str] = {}
        ids: list[int] = []
        for chunk in chunks(lamp_ids, _CHUNK):
            for lamp_id, zone, found in s.execute(
                select(col(LampRow.lamp_id), col(LampRow.zone), tail_id).where(
                    col(LampRow.lamp_id).in_(chunk)
                )
            ):
                zones[lamp_id] = zone
                if found is not None:
                    ids.append(found)
        tails: dict[str, Reading] = {}
        for some in chunks(ids, _CHUNK):
            for row in s.execute(select(*_COLUMNS).where(col(ReportRow.id).in_(some))):
                report = Reading(*row)
                tails[report.lamp_id] = report
        return tails, zones

    @staticmethod
    def _next(s: Session, report: Reading, watermark: int, *, before: bool) -> Reading | None:
        """The report counted already just before (or after) ``report`` in its lamp's order."""
        key = tuple_(col(ReportRow.boot), col(ReportRow.seq))
        boot, seq = col(ReportRow.boot), col(ReportRow.seq)
        query = (
            select(*_COLUMNS)
            .where(col(ReportRow.lamp_id) == report.lamp_id)
            .where(col(ReportRow.id) <= watermark)
            .where(key < tuple_(*report.order) if before else key > tuple_(*report.order))
            .order_by(*((boot.desc(), seq.desc()) if before else (boot, seq)))
        )
        row = s.execute(query.limit(1)).first()
        return None if row is None else Reading(*row)

    @staticmethod
    def _write(s: Session, deltas: _Deltas, zones: dict[str, str]) -> int:
        """Add the deltas to the hourly rows (inserting the missing ones); how many."""
        by_hour: dict[datetime, list[str]] = defaultdict(list)
        for lamp_id, hour in deltas:
            by_hour[hour].append(lamp_id)
        updates: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        for hour, lamp_ids in by_hour.items():
            for chunk in chunks(lamp_ids, _CHUNK):
                existing = {
                    row.lamp_id: row._mapping
                    for row in s.execute(
                        select(*(col(getattr(HourlyRow, name)) for name in _KEPT))
                        .where(col(HourlyRow.hour) == hour)
                        .where(col(HourlyRow.lamp_id).in_(chunk))
                    )
                }
                for lamp_id in chunk:
                    delta = deltas[lamp_id, hour]
                    old = existing.get(lamp_id, _NONE)
                    values: dict[str, Any] = {
                        name: _tidy(getattr(delta, name) + old[name]) for name in _SUMS
                    }
                    values["power_max_w"] = max(delta.power_max_w, old["power_max_w"])
                    values["reports"] = delta.reports + old["reports"]
                    if old["id"] is not None:
                        updates.append({"id": old["id"], **values})
                    else:
                        inserts.append(
                            {
                                "lamp_id": lamp_id,
                                "zone": zones.get(lamp_id, ""),
                                "hour": hour,
                                **values,
                            }
                        )
        if updates:  # Core executemany: a third of the time of an ORM bulk update
            table = SQLModel.metadata.tables["hourly"]
            changed: dict[str, Any] = {n: bindparam(n) for n in updates[0] if n != "id"}
            by_id = update(table).where(table.c.id == bindparam("row_id")).values(changed)
            s.connection().execute(by_id, [{"row_id": u.pop("id"), **u} for u in updates])
        if inserts:
            s.execute(insert(HourlyRow), inserts)
        return len(updates) + len(inserts)

    # -- retention ------------------------------------------------------------------------

    def prune(
        self, now: datetime, reports_days: int, hourly_days: int, *, batch: int = 10_000
    ) -> PruneResult:
        """Delete at most ``batch`` reports older than ``reports_days`` (only those rolled
        up already) and at most ``batch`` hourly rows older than ``hourly_days``.

        One transaction; call it again while the result is not ``done``.
        """
        with self._session() as s:
            watermark = s.execute(
                select(col(RollupRow.last_report_id)).where(col(RollupRow.name) == ROLLUP)
            ).scalar_one_or_none()
            reports = 0
            if watermark:
                old_reports = (
                    select(col(ReportRow.id))
                    .where(col(ReportRow.received_at) < now - timedelta(days=reports_days))
                    .where(col(ReportRow.id) < watermark)
                    .limit(batch)
                )
                reports = self._delete(s, ReportRow, col(ReportRow.id), old_reports)
            old_hours = (
                select(col(HourlyRow.id))
                .where(col(HourlyRow.hour) < now - timedelta(days=hourly_days))
                .limit(batch)
            )
            hourly = self._delete(s, HourlyRow, col(HourlyRow.id), old_hours)
        if reports or hourly:
            log.info("pruned %d reports and %d hourly rows", reports, hourly)
        return PruneResult(reports=reports, hourly=hourly, done=reports < batch and hourly < batch)

    @staticmethod
    def _delete(s: Session, table: type[SQLModel], key: Any, ids: Any) -> int:
        deleted: CursorResult[Any] = s.connection().execute(
            delete(table).where(key.in_(ids.scalar_subquery()))
        )
        return int(deleted.rowcount)

    # -- queries --------------------------------------------------------------------------

    def hourly(
        self,
        start: datetime,
        end: datetime,
        *,
        zone: str | None = None,
        lamp_id: str | None = None,
    ) -> list[HourlyRecord]:
        """Hourly rows with their hour in [``start``, ``end``), by lamp and hour."""
        with self._session() as s:
            query = (
                select(HourlyRow)
                .where(col(HourlyRow.hour) >= start)
                .where(col(HourlyRow.hour) < end)
                .order_by(col(HourlyRow.lamp_id), col(HourlyRow.hour))
            )
            if zone is not None:
                query = query.where(col(HourlyRow.zone) == zone)
            if lamp_id is not None:
                query = query.where(col(HourlyRow.lamp_id) == lamp_id)
            return [to_record(HourlyRecord, row) for row in s.scalars(query)]

    def energy_by_night(
        self,
        first: date,
        last: date,
        tz: tzinfo,
        *,
        zone: str | None = None,
        lamp_id: str | None = None,
        per_lamp: bool = False,
    ) -> list[NightEnergy]:
        """Energy per zone and night (local noon to noon in ``tz``) from ``first`` to
        ``last`` included, or per lamp and night; only what is rolled up, by night, zone
        and lamp."""
        nights = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        found: list[NightEnergy] = []
        with self._session() as s:
            for chunk in chunks(nights, _NIGHTS_PER_QUERY):
                found.extend(
                    self._nights(s, chunk, tz, zone=zone, lamp_id=lamp_id, per_lamp=per_lamp)
                )
        return sorted(found, key=lambda n: (n.night, n.zone, n.lamp_id or ""))

    def energy_tonight(
        self, now: datetime, tz: tzinfo, *, zone: str | None = None, per_lamp: bool = False
    ) -> list[NightEnergy]:
        """Energy of the night in progress at ``now``, so far (as far as rolled up)."""
        night = night_of(now, tz)
        return self.energy_by_night(night, night, tz, zone=zone, per_lamp=per_lamp)

    @staticmethod
    def _nights(
        s: Session,
        nights: Sequence[date],
        tz: tzinfo,
        *,
        zone: str | None,
        lamp_id: str | None,
        per_lamp: bool,
    ) -> list[NightEnergy]:
        # An hour belongs to the night that holds its middle: to night i if it starts
        # before the end of night i less half an hour.
        ends = [night_window(night, tz)[1] - _HALF_HOUR for night in nights]
        start = night_window(nights[0], tz)[0] - _HALF_HOUR
        hour = col(HourlyRow.hour)
        index: ColumnElement[Any] = literal_column(str(len(nights) - 1))
        if len(nights) > 1:
            whens: list[tuple[ColumnElement[bool], ColumnElement[Any]]] = [
                (hour < end, literal_column(str(i))) for i, end in enumerate(ends[:-1])
            ]
            index = case(*whens, else_=index)
        rows = select(
            col(HourlyRow.lamp_id),
            col(HourlyRow.zone),
            index.label("night"),
            *(col(getattr(HourlyRow, name)) for name in _NIGHT_SUMS),
        ).where(hour >= start, hour < ends[-1])
        if zone is not None:
            rows = rows.where(col(HourlyRow.zone) == zone)
        if lamp_id is not None:
            rows = rows.where(col(HourlyRow.lamp_id) == lamp_id)
        h = rows.subquery()
        per = (
            select(
                h.c.lamp_id,
                h.c.zone,
                h.c.night,
                *(func.sum(h.c[name]).label(name) for name in _NIGHT_SUMS),
            )
            .group_by(h.c.lamp_id, h.c.zone, h.c.night)
            .subquery()
        )
        wattage = func.coalesce(col(LampRow.wattage), 0.0)
        joined = per.outerjoin(LampRow, col(LampRow.lamp_id) == per.c.lamp_id)
        sums = [per.c[name] for name in _NIGHT_SUMS]
        if per_lamp:
            query = select(
                per.c.night, per.c.zone, per.c.lamp_id, literal_column("1"), wattage, *sums
            ).select_from(joined)
        else:
            query = (
                select(
                    per.c.night,
                    per.c.zone,
                    null(),
                    func.count(),
                    func.sum(wattage),
                    *(func.sum(column) for column in sums),
                )
                .select_from(joined)
                .group_by(per.c.night, per.c.zone)
            )
        return [
            NightEnergy(
                night=nights[i],
                zone=z,
                lamp_id=lamp,
                lamps=int(n),
                wattage_w=float(w),
                energy_wh=float(e),
                burning_s=float(b),
                level_s=float(ls),
                covered_s=float(c),
                reports=int(r),
            )
            for i, z, lamp, n, w, e, b, ls, c, r in s.execute(query)
        ]
