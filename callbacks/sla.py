"""Service-level figures, aggregated in SQL so that they scale: callbacks kept per local day and queue, time
from request to conversation (median, 90th percentile), attempts per callback, unreachable share; and the
phone tree's funnel from the call journeys (where callers leave, how often 0 is pressed).

PostgreSQL does it all natively (AT TIME ZONE, percentile_cont). SQLite, the single-site default, gets two
small functions registered on its connection: the local calendar day of a stored UTC time and a percentile
aggregate with percentile_cont's interpolation, so both run the same query.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, bindparam, func, literal_column, not_, or_, select, text, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callbacks.clock import ensure_utc
from callbacks.db import Database
from callbacks.models import (
    CANCELED,
    COMPLETED,
    FINAL_STATUSES,
    MISSED,
    OPEN_STATUSES,
    UNREACHABLE,
    Callback,
    InboundCall,
    SlaDay,
    UTCDateTime,
)

# Journey outcomes that mean the caller was put through to a person.
REACHED_PERSON_OUTCOMES = ("human", "reached_agent", "answered")
CALLBACK_OUTCOMES = ("callback_requested",)


@dataclass
class Figures:
    """Counts and times for one (day, queue) cell, one queue, or everything."""

    day: date | None = None
    queue: str | None = None
    requested: int = 0
    completed: int = 0
    canceled: int = 0
    missed: int = 0
    unreachable: int = 0
    open: int = 0
    attempts_closed: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None

    @property
    def decided(self) -> int:
        """Callbacks whose promise is settled either way (canceled and open ones are neither kept nor broken)."""
        return self.completed + self.missed + self.unreachable

    @property
    def closed(self) -> int:
        return self.completed + self.missed + self.unreachable + self.canceled

    def _share(self, part: int) -> float | None:
        return part / self.decided if self.decided else None

    @property
    def kept_share(self) -> float | None:
        return self._share(self.completed)

    @property
    def missed_share(self) -> float | None:
        return self._share(self.missed)

    @property
    def unreachable_share(self) -> float | None:
        return self._share(self.unreachable)

    @property
    def attempts_per_callback(self) -> float | None:
        return self.attempts_closed / self.closed if self.closed else None

    def add(self, other: Figures) -> None:
        for name in ("requested", "completed", "canceled", "missed", "unreachable", "open", "attempts_closed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat() if self.day else None,
            "queue": self.queue,
            "requested": self.requested,
            "completed": self.completed,
            "canceled": self.canceled,
            "missed": self.missed,
            "unreachable": self.unreachable,
            "open": self.open,
            "kept_share": self.kept_share,
            "unreachable_share": self.unreachable_share,
            "missed_share": self.missed_share,
            "attempts_per_callback": self.attempts_per_callback,
            "median_seconds_to_conversation": self.median_seconds,
            "p90_seconds_to_conversation": self.p90_seconds,
        }


@dataclass
class SlaReport:
    """Figures per (day, queue), per queue, and overall, for callbacks requested in [since, until)."""

    cells: list[Figures]
    by_queue: list[Figures]
    overall: Figures
    by_day: list[Figures] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "cells": [c.as_json() for c in self.cells],
            "by_day": [c.as_json() for c in self.by_day],
            "by_queue": [q.as_json() for q in self.by_queue],
            "overall": self.overall.as_json(),
        }


# -- dialect helpers -----------------------------------------------------------------------------------------
class _Percentile:
    """percentile_cont for SQLite: linear interpolation between the two nearest ranks."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: float | None, fraction: float) -> None:
        if value is not None:
            self.values.append(float(value))
            self.fraction = float(fraction)

    def finalize(self) -> float | None:
        return percentile(self.values, self.fraction)


def percentile(values: list[float], fraction: float) -> float | None:
    """The `fraction` percentile with PostgreSQL's percentile_cont interpolation (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _sqlite_local_date(stored: str | None, zone_name: str) -> str | None:
    if stored is None:
        return None
    moment = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    return moment.astimezone(_zone(zone_name)).date().isoformat()


def _prepare(session: Session) -> str:
    """The dialect's name; on SQLite, registers our functions on this connection first."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "sqlite":
        raw = connection.connection.driver_connection
        assert raw is not None  # only a closed or invalidated connection has none
        raw.create_function("ivr_local_date", 2, _sqlite_local_date, deterministic=True)
        raw.create_aggregate("ivr_percentile", 2, _Percentile)
    elif dialect == "postgresql":
        # Percentiles sort their group; give this report's transaction room to sort in memory, not on disk.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        # Compiling these one-off aggregates costs more than it saves.
        session.execute(text("SET LOCAL jit = off"))
    return dialect


def _local_day(dialect: str, column: Any, zone: str) -> ColumnElement[Any]:
    # The zone goes in as a literal, not a bind parameter: PostgreSQL must see the GROUP BY expression and the
    # selected one as identical, and two parameters are two different expressions to it. IANA names are safe.
    if not re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", zone):
        raise ValueError(f"unexpected timezone name {zone!r}")
    zone_literal: ColumnElement[Any] = literal_column(f"'{zone}'")
    if dialect == "postgresql":
        return func.date(func.timezone(zone_literal, column))
    return func.ivr_local_date(column, zone_literal)


def _seconds_between(dialect: str, later: Any, earlier: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _percentile(dialect: str, expr: Any, fraction: float) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.percentile_cont(fraction).within_group(expr)
    return func.ivr_percentile(expr, fraction)


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


# -- callbacks -----------------------------------------------------------------------------------------------
def sla_figures(db: Database, zone: ZoneInfo, since: datetime, until: datetime, queue: str | None = None) -> SlaReport:
    """Figures for callbacks requested in [since, until), days in `zone`."""
    since, until = ensure_utc(since), ensure_utc(until)
    rolled = _rolled_days(db, zone, since, until, queue)
    if rolled:
        return _figures_with_rollup(db, zone, since, until, queue, rolled)
    where: list[ColumnElement[bool]] = [Callback.requested_at >= since, Callback.requested_at < until]
    if queue:
        where.append(Callback.queue == queue)
    zone_name = zone.key
    with db.session() as session:
        dialect = _prepare(session)
        day = _local_day(dialect, Callback.requested_at, zone_name).label("day")

        def count_of(*statuses: str) -> ColumnElement[Any]:
            return func.count().filter(Callback.status.in_(statuses))

        counts = session.execute(
            select(
                day,
                Callback.queue,
                func.count().label("requested"),
                count_of(COMPLETED).label("completed"),
                count_of(CANCELED).label("canceled"),
                count_of(MISSED).label("missed"),
                count_of(UNREACHABLE).label("unreachable"),
                count_of(*OPEN_STATUSES).label("open"),
                func.coalesce(func.sum(Callback.attempts_made).filter(Callback.status.in_(FINAL_STATUSES)), 0).label(
                    "attempts_closed"
                ),
            )
            .where(*where)
            .group_by(day, Callback.queue)
            .order_by(day, Callback.queue)
        ).all()

        # Time from the request to the start of the conversation that kept it (kept on the callback: no join).
        wait = _seconds_between(dialect, Callback.conversation_at, Callback.requested_at)

        kept_rows = (
            select(Callback.id)
            .select_from(Callback)
            .where(*where, Callback.status == COMPLETED, Callback.conversation_at.is_not(None))
        )
        p50, p90 = _percentile(dialect, wait, 0.5).label("p50"), _percentile(dialect, wait, 0.9).label("p90")
        cell_times: dict[tuple[date | None, str], tuple[Any, Any]] = {}
        day_times: dict[date | None, tuple[Any, Any]] = {}
        queue_times: dict[str, tuple[Any, Any]] = {}
        overall_times: tuple[Any, Any] | None = None
        if dialect == "postgresql":
            # One pass over the kept rows for all four groupings.
            grouped = session.execute(
                kept_rows.with_only_columns(
                    day, Callback.queue, func.grouping(day, Callback.queue).label("g"), p50, p90
                ).group_by(
                    func.grouping_sets(tuple_(day, Callback.queue), tuple_(day), tuple_(Callback.queue), text("()"))
                )
            ).all()
            for r in grouped:
                # grouping() bits: 2 = day rolled up, 1 = queue rolled up.
                if r.g == 0:
                    cell_times[(_as_date(r.day), r.queue)] = (r.p50, r.p90)
                elif r.g == 1:
                    day_times[_as_date(r.day)] = (r.p50, r.p90)
                elif r.g == 2:
                    queue_times[r.queue] = (r.p50, r.p90)
                else:
                    overall_times = (r.p50, r.p90)
        else:

            def times(*group: Any) -> Sequence[Any]:
                query = kept_rows.with_only_columns(*group, p50, p90)
                return session.execute(query.group_by(*group) if group else query).all()

            cell_times = {(_as_date(r.day), r.queue): (r.p50, r.p90) for r in times(day, Callback.queue)}
            day_times = {_as_date(r.day): (r.p50, r.p90) for r in times(day)}
            queue_times = {r.queue: (r.p50, r.p90) for r in times(Callback.queue)}
            overall_times = tuple(times()[0])

    cells: list[Figures] = []
    by_queue: dict[str, Figures] = {}
    by_day: dict[date, Figures] = {}
    overall = Figures()
    for row in counts:
        cell_day = _as_date(row.day)
        cell = Figures(
            day=cell_day,
            queue=row.queue,
            requested=row.requested,
            completed=row.completed,
            canceled=row.canceled,
            missed=row.missed,
            unreachable=row.unreachable,
            open=row.open,
            attempts_closed=int(row.attempts_closed or 0),
        )
        cell.median_seconds, cell.p90_seconds = _floats(cell_times.get((cell_day, row.queue)))
        cells.append(cell)
        by_queue.setdefault(row.queue, Figures(queue=row.queue)).add(cell)
        if cell_day is not None:
            by_day.setdefault(cell_day, Figures(day=cell_day)).add(cell)
        overall.add(cell)
    for queue_id, figures in by_queue.items():
        figures.median_seconds, figures.p90_seconds = _floats(queue_times.get(queue_id))
    for day_key, figures in by_day.items():
        figures.median_seconds, figures.p90_seconds = _floats(day_times.get(day_key))
    overall.median_seconds, overall.p90_seconds = _floats(overall_times)
    return SlaReport(
        cells=cells,
        by_queue=sorted(by_queue.values(), key=lambda f: f.queue or ""),
        overall=overall,
        by_day=[by_day[d] for d in sorted(by_day)],
    )


def _floats(pair: tuple[Any, Any] | None) -> tuple[float | None, float | None]:
    if pair is None:
        return None, None
    # Rounded to 0.1 s: SQLite's julianday arithmetic leaves microsecond noise.
    first, second = (None if v is None else round(float(v), 1) for v in pair)
    return first, second


# -- the phone tree ------------------------------------------------------------------------------------------
@dataclass
class NodeFigures:
    node: str
    visits: int
    left_here: int

    @property
    def loss_rate(self) -> float | None:
        return self.left_here / self.visits if self.visits else None


@dataclass
class Funnel:
    """How calls into the phone tree went, for calls started in [since, until)."""

    calls: int = 0
    reached_person: int = 0
    left_callback: int = 0
    left_without_help: int = 0
    pressed_zero: int = 0
    zero_presses: int = 0
    outcomes: list[tuple[str, int]] = field(default_factory=list)
    nodes: list[NodeFigures] = field(default_factory=list)

    def share(self, part: int) -> float | None:
        return part / self.calls if self.calls else None

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "reached_person": self.reached_person,
            "left_callback": self.left_callback,
            "left_without_help": self.left_without_help,
            "pressed_zero": self.pressed_zero,
            "zero_presses": self.zero_presses,
            "outcomes": dict(self.outcomes),
            "nodes": [
                {"node": n.node, "visits": n.visits, "left_here": n.left_here, "loss_rate": n.loss_rate}
                for n in self.nodes
            ],
        }


def _reached() -> ColumnElement[bool]:
    return or_(InboundCall.answered_at.is_not(None), InboundCall.outcome.in_(REACHED_PERSON_OUTCOMES))


def _left_callback() -> ColumnElement[bool]:
    return and_(not_(_reached()), or_(InboundCall.callback_id.is_not(None), InboundCall.outcome.in_(CALLBACK_OUTCOMES)))


def phone_tree_funnel(db: Database, since: datetime, until: datetime, top: int = 12) -> Funnel:
    """Calls, where they ended, how often 0 was pressed, and which menu nodes lose most callers."""
    since, until = ensure_utc(since), ensure_utc(until)
    window = [InboundCall.started_at >= since, InboundCall.started_at < until]
    lost = and_(not_(_reached()), not_(_left_callback()))
    with db.session() as session:
        dialect = _prepare(session)
        totals = session.execute(
            select(
                func.count().label("calls"),
                func.count().filter(_reached()).label("reached"),
                func.count().filter(_left_callback()).label("callback"),
                func.count().filter(InboundCall.zero_presses > 0).label("pressed_zero"),
                func.coalesce(func.sum(InboundCall.zero_presses), 0).label("zero_presses"),
            ).where(*window)
        ).one()
        outcomes = session.execute(
            select(InboundCall.outcome, func.count())
            .where(*window)
            .group_by(InboundCall.outcome)
            .order_by(func.count().desc())
        ).all()
        if dialect == "postgresql":
            last_node: ColumnElement[Any] = literal_column("((inbound_calls.path::json -> -1) ->> 'node')")
            visits_sql = (
                "SELECT e.value ->> 'node' AS node, count(DISTINCT c.id) AS visits "
                "FROM inbound_calls c CROSS JOIN LATERAL json_array_elements(c.path::json) AS e(value) "
                "WHERE c.started_at >= :since AND c.started_at < :until GROUP BY 1"
            )
        else:
            last_node = literal_column("json_extract(inbound_calls.path, '$[#-1].node')")
            visits_sql = (
                "SELECT json_extract(e.value, '$.node') AS node, count(DISTINCT c.id) AS visits "
                "FROM inbound_calls c, json_each(c.path) e "
                "WHERE c.started_at >= :since AND c.started_at < :until GROUP BY 1"
            )
        # No literal inside: PostgreSQL must see the selected and grouped expressions as the same one.
        leave_node = func.coalesce(InboundCall.outcome_node, last_node)
        left = dict(session.execute(select(leave_node, func.count()).where(*window, lost).group_by(leave_node)).all())
        visits: dict[Any, Any] = dict(
            session.execute(
                text(visits_sql).bindparams(
                    bindparam("since", since, type_=UTCDateTime()), bindparam("until", until, type_=UTCDateTime())
                )
            ).all()
        )
    nodes = [NodeFigures(str(node), int(visits.get(node, 0) or 0), int(left.get(node, 0))) for node in visits if node]
    nodes += [NodeFigures(str(node or "?"), 0, int(n)) for node, n in left.items() if node not in visits]
    nodes.sort(key=lambda n: (-n.left_here, -(n.loss_rate or 0), n.node))
    reached, callback = int(totals.reached), int(totals.callback)
    return Funnel(
        calls=int(totals.calls),
        reached_person=reached,
        left_callback=callback,
        left_without_help=int(totals.calls) - reached - callback,
        pressed_zero=int(totals.pressed_zero),
        zero_presses=int(totals.zero_presses or 0),
        outcomes=[(o or "unknown", int(n)) for o, n in outcomes],
        nodes=nodes[:top],
    )


# -- the daily rollup ----------------------------------------------------------------------------------------
# A quarter over a million callbacks took seconds to aggregate at each look. Whole local days whose callbacks are
# all final do not change: `roll_up` (the worker, hourly; idempotent, safe with several workers) writes each such
# day once per queue, with its waits to conversation counted by the whole second, and `sla_figures` reads those
# rows for the whole days of a period and the callbacks themselves for the rest (today, days still open, partial
# days at either end). Percentiles over rolled-up days interpolate between whole seconds: figures agree with the
# live query to the second (exactly when the stored times are whole seconds).


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)


def _local_date(moment: datetime, zone: ZoneInfo) -> date:
    return ensure_utc(moment).astimezone(zone).date()


def roll_up(db: Database, zone: ZoneInfo, now: datetime) -> int:
    """Write the rollup rows of the local days before today whose callbacks are all final and that are not rolled
    up yet (from the day after the last one written, up to the first day with an open callback). Returns the
    number of rows written."""
    today = _local_date(now, zone)
    with db.session() as session:
        last = session.scalar(select(func.max(SlaDay.day)).where(SlaDay.zone == zone.key))
        if last is None:
            first_requested = session.scalar(select(func.min(Callback.requested_at)))
            if first_requested is None:
                return 0
            start_day = _local_date(first_requested, zone)
        else:
            start_day = last + timedelta(days=1)
        if start_day >= today:
            return 0
        start, end = _midnight(start_day, zone), _midnight(today, zone)
        first_open = session.scalar(
            select(func.min(Callback.requested_at)).where(
                Callback.status.in_(OPEN_STATUSES), Callback.requested_at >= start, Callback.requested_at < end
            )
        )
        if first_open is not None:
            end = _midnight(_local_date(first_open, zone), zone)
        if end <= start:
            return 0
        cells, waits = _live_cells(session, zone.key, [(start, end)], None)
        stamp = ensure_utc(now)
        rows = [
            SlaDay(zone=zone.key, day=cell.day, queue=cell.queue, requested=cell.requested, completed=cell.completed,
                   canceled=cell.canceled, missed=cell.missed, unreachable=cell.unreachable,
                   attempts_closed=cell.attempts_closed,
                   waits={str(k): v for k, v in sorted(waits.get((cell.day, cell.queue or ""), {}).items())},
                   computed_at=stamp)
            for cell in cells if cell.day is not None and cell.queue is not None
        ]
        session.add_all(rows)
        try:
            session.flush()
        except IntegrityError:
            # Another worker wrote these days meanwhile: theirs stand.
            session.rollback()
            return 0
        return len(rows)


def _rolled_days(db: Database, zone: ZoneInfo, since: datetime, until: datetime, queue: str | None) -> list[SlaDay]:
    """Rollup rows of the whole local days inside [since, until)."""
    first = _local_date(since, zone)
    if _midnight(first, zone) < since:
        first += timedelta(days=1)
    last = _local_date(until, zone) - timedelta(days=1)  # the day before the one `until` falls in (or starts)
    if last < first:
        return []
    where = [SlaDay.zone == zone.key, SlaDay.day >= first, SlaDay.day <= last]
    if queue:
        where.append(SlaDay.queue == queue)
    with db.session() as session:
        return list(session.scalars(select(SlaDay).where(*where).order_by(SlaDay.day, SlaDay.queue)))


Histogram = dict[int, int]


def _live_cells(
    session: Session, zone_name: str, ranges: list[tuple[datetime, datetime]], queue: str | None
) -> tuple[list[Figures], dict[tuple[date | None, str], Histogram]]:
    """Counts per (local day, queue) and waits by the whole second, for callbacks requested in `ranges`."""
    dialect = _prepare(session)
    in_range = or_(*(and_(Callback.requested_at >= a, Callback.requested_at < b) for a, b in ranges))
    where: list[ColumnElement[bool]] = [in_range]
    if queue:
        where.append(Callback.queue == queue)
    day = _local_day(dialect, Callback.requested_at, zone_name).label("day")

    def count_of(*statuses: str) -> ColumnElement[Any]:
        return func.count().filter(Callback.status.in_(statuses))

    counts = session.execute(
        select(
            day, Callback.queue, func.count().label("requested"), count_of(COMPLETED).label("completed"),
            count_of(CANCELED).label("canceled"), count_of(MISSED).label("missed"),
            count_of(UNREACHABLE).label("unreachable"), count_of(*OPEN_STATUSES).label("open"),
            func.coalesce(func.sum(Callback.attempts_made).filter(Callback.status.in_(FINAL_STATUSES)), 0).label(
                "attempts_closed"
            ),
        ).where(*where).group_by(day, Callback.queue)
    ).all()
    seconds = func.round(_seconds_between(dialect, Callback.conversation_at, Callback.requested_at)).label("s")
    waits: dict[tuple[date | None, str], Histogram] = {}
    for row in session.execute(
        select(day, Callback.queue, seconds, func.count().label("n"))
        .where(*where, Callback.status == COMPLETED, Callback.conversation_at.is_not(None))
        .group_by(day, Callback.queue, seconds)
    ):
        histogram = waits.setdefault((_as_date(row.day), row.queue), {})
        histogram[int(row.s)] = histogram.get(int(row.s), 0) + int(row.n)
    cells = [
        Figures(day=_as_date(r.day), queue=r.queue, requested=r.requested, completed=r.completed,
                canceled=r.canceled, missed=r.missed, unreachable=r.unreachable, open=r.open,
                attempts_closed=int(r.attempts_closed or 0))
        for r in counts
    ]
    return cells, waits


def histogram_percentile(histogram: Histogram, fraction: float) -> float | None:
    """`percentile` over the values a histogram {value: count} stands for."""
    total = sum(histogram.values())
    if not total:
        return None
    position = fraction * (total - 1)
    low_rank, high_rank = math.floor(position), math.ceil(position)
    low = high = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if low is None and seen > low_rank:
            low = value
        if seen > high_rank:
            high = value
            break
    assert low is not None and high is not None
    return low + (high - low) * (position - low_rank)


def _merge(into: Histogram, other: Histogram) -> None:
    for value, count in other.items():
        into[value] = into.get(value, 0) + count


def _figures_with_rollup(
    db: Database, zone: ZoneInfo, since: datetime, until: datetime, queue: str | None, rolled: list[SlaDay]
) -> SlaReport:
    first, last = rolled[0].day, rolled[-1].day
    ranges = [(since, _midnight(first, zone)), (_midnight(last + timedelta(days=1), zone), until)]
    # Days between the first and last rolled-up ones with no row (no callbacks) have nothing to read.
    ranges = [(a, b) for a, b in ranges if a < b]
    waits: dict[tuple[date | None, str], Histogram] = {}
    cells: list[Figures] = []
    if ranges:
        with db.session() as session:
            cells, waits = _live_cells(session, zone.key, ranges, queue)
    for row in rolled:
        cells.append(Figures(day=row.day, queue=row.queue, requested=row.requested, completed=row.completed,
                             canceled=row.canceled, missed=row.missed, unreachable=row.unreachable,
                             attempts_closed=row.attempts_closed))
        waits[(row.day, row.queue)] = {int(k): int(v) for k, v in (row.waits or {}).items()}
    cells.sort(key=lambda c: (c.day or date.min, c.queue or ""))
    by_queue: dict[str, Figures] = {}
    by_day: dict[date, Figures] = {}
    overall = Figures()
    queue_waits: dict[str, Histogram] = {}
    day_waits: dict[date, Histogram] = {}
    all_waits: Histogram = {}
    for cell in cells:
        histogram = waits.get((cell.day, cell.queue or ""), {})
        cell.median_seconds, cell.p90_seconds = _from_histogram(histogram)
        queue_id = cell.queue or ""
        by_queue.setdefault(queue_id, Figures(queue=cell.queue)).add(cell)
        _merge(queue_waits.setdefault(queue_id, {}), histogram)
        if cell.day is not None:
            by_day.setdefault(cell.day, Figures(day=cell.day)).add(cell)
            _merge(day_waits.setdefault(cell.day, {}), histogram)
        overall.add(cell)
        _merge(all_waits, histogram)
    for queue_id, figures in by_queue.items():
        figures.median_seconds, figures.p90_seconds = _from_histogram(queue_waits[queue_id])
    for day_key, figures in by_day.items():
        figures.median_seconds, figures.p90_seconds = _from_histogram(day_waits[day_key])
    overall.median_seconds, overall.p90_seconds = _from_histogram(all_waits)
    return SlaReport(
        cells=cells,
        by_queue=sorted(by_queue.values(), key=lambda f: f.queue or ""),
        overall=overall,
        by_day=[by_day[d] for d in sorted(by_day)],
    )


def _from_histogram(histogram: Histogram) -> tuple[float | None, float | None]:
    return _floats((histogram_percentile(histogram, 0.5), histogram_percentile(histogram, 0.9)))
