"""Evaluating (student, course) pairs against the rules and writing what changed, set-based.

The hour totals come from the enrollment rows (kept exact by every attendance write), one
query per batch. Opening relies on the partial unique index ``uq_alerts_one_open_per_crossing``
(INSERT ... ON CONFLICT DO NOTHING): whatever runs concurrently or again, a crossing gets one
alert, and only the transaction whose insert won creates its notification.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import ARRAY, Integer, any_, case, cast, func, select, text, tuple_, update
from sqlalchemy.orm import Session

from portal.attendance.terms import terms_in_progress
from portal.domain.forecast import forecast
from portal.domain.messages import AlertFacts
from portal.domain.rates import HourTotals
from portal.domain.rules import ALERT_KINDS, Thresholds, alert_changes, evaluate, integer_rules
from portal.models import Alert, Course, Enrollment, Offering, Student
from portal.notifications.fanout import OpenedAlert
from portal.storage.bulk import insert_rows

CHUNK = 500


@dataclass
class EvaluationCounts:
    """What evaluations changed; batches add theirs up into a run's summary."""

    students_checked: int = 0
    opened: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ALERT_KINDS, 0))
    suppressed: int = 0
    resolved: int = 0
    notifications: int = 0

    def add(self, other: EvaluationCounts) -> None:
        """Add ``other``'s counts to these."""
        self.students_checked += other.students_checked
        for kind in ALERT_KINDS:
            self.opened[kind] += other.opened[kind]
        self.suppressed += other.suppressed
        self.resolved += other.resolved
        self.notifications += other.notifications


@dataclass
class EvaluationResult:
    """What an evaluation changed: its counts and the alerts it opened that need a notification
    (the caller creates them, in the same transaction or in fan-out jobs after the commit)."""

    counts: EvaluationCounts
    to_notify: list[OpenedAlert]
    opened_list: list[dict] = field(default_factory=list)  # every alert opened: who, course, kind, rate
    resolved_list: list[dict] = field(default_factory=list)  # every alert resolved (by a changed rate)


def serialize_writers(session: Session) -> None:
    """On SQLite, take the write lock before reading, so read-evaluate-write is one unit.

    PostgreSQL gets the same effect from the enrollment row locks taken by the totals query.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    raw = session.connection().connection.driver_connection
    if not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


def _totals_query(lock: bool, terms: Sequence[int]):
    query = (
        select(
            Enrollment.student_id,
            Enrollment.course_id,
            Enrollment.term_id,
            Enrollment.held_hours,
            Enrollment.absent_hours,
            Enrollment.excused_hours,
            Student.student_number,
            Student.name,
            Student.email,
            Student.guardian_email,
            Student.language,
            Course.code,
            Course.title,
            Offering.planned_hours,
        )
        .join(Student, Student.id == Enrollment.student_id)
        .join(Course, Course.id == Enrollment.course_id)
        .outerjoin(Offering, (Offering.term_id == Enrollment.term_id) & (Offering.course_id == Enrollment.course_id))
        .where(Student.active.is_(True), Enrollment.active.is_(True), Enrollment.term_id.in_(list(terms)))
        .order_by(Enrollment.id)
    )
    # Row locks serialise evaluations of one pair with each other and with attendance writes
    # (which lock enrollments in the same id order), so nobody decides on stale totals.
    return query.with_for_update(of=Enrollment) if lock else query


def totals_for_student_range(
    session: Session, first: int, last: int, terms: Sequence[int], *, lock: bool = True
) -> list:
    """Return the totals rows of every active enrollment in ``terms`` of active students with
    id in [first, last]."""
    return session.execute(_totals_query(lock, terms).where(Enrollment.student_id.between(first, last))).all()


def totals_for_enrollments(
    session: Session, enrollment_ids: Sequence[int], terms: Sequence[int], *, lock: bool = True
) -> list:
    """Return the totals rows of the given enrollments that are active, in ``terms`` and of
    active students.

    One statement, rows locked in id order like every other writer, so it cannot deadlock.
    """
    if not enrollment_ids:
        return []
    ids = sorted(set(enrollment_ids))
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter, not one bind parameter per id (a first scan's batch passes thousands).
        match = Enrollment.id == any_(cast(ids, ARRAY(Integer)))
    else:
        match = Enrollment.id.in_(ids)
    return session.execute(_totals_query(lock, terms).where(match)).all()


# Enrollments of a student id range whose holding kinds differ from the kinds of their open
# alerts: the only pairs a scan can change. The rules of portal.domain.rules.evaluate, on the
# totals in whole hundredths of an hour with the thresholds scaled to integers: exact, and
# several times cheaper than PostgreSQL numeric arithmetic. The range's active students are
# counted in the same statement (one round trip for a batch with nothing to change).
_CANDIDATES_SQL = text(
    """
    WITH cur AS (  -- the terms in progress, as portal.attendance.terms.TermCalendar.in_progress
        SELECT id FROM terms
        WHERE (starts_on <= :today AND ends_on >= :today)
           OR (starts_on IS NULL AND NOT EXISTS (SELECT 1 FROM terms d WHERE d.starts_on IS NOT NULL))
    )
    SELECT
      (SELECT count(*) FROM students WHERE active AND id BETWEEN :first AND :last) AS students,
      ARRAY(SELECT id FROM cur ORDER BY id) AS terms,
      ARRAY(
        WITH o AS (
            SELECT student_id, course_id, term_id, bool_or(kind = 'warning') AS w,
                   bool_or(kind = 'mahroom') AS m, bool_or(kind = 'tasdiq') AS t
            FROM alerts WHERE status = 'open' AND student_id BETWEEN :first AND :last
              AND term_id = ANY(ARRAY(SELECT id FROM cur))
            GROUP BY student_id, course_id, term_id
        )
        SELECT e.id FROM enrollments e
        LEFT JOIN o ON o.student_id = e.student_id AND o.course_id = e.course_id AND o.term_id = e.term_id
        WHERE e.student_id BETWEEN :first AND :last AND e.active
          AND e.term_id = ANY(ARRAY(SELECT id FROM cur))
          AND NOT EXISTS (SELECT 1 FROM students s WHERE s.id = e.student_id AND NOT s.active)
          AND e.held_hundredths > 0 AND e.held_hundredths >= :min_held
          AND ((:scale * (e.held_hundredths - e.absent_hundredths) < :warning * e.held_hundredths)
                IS DISTINCT FROM coalesce(o.w, false)
            OR (:scale * (e.held_hundredths - e.absent_hundredths) <= :mahroom * e.held_hundredths)
                IS DISTINCT FROM coalesce(o.m, false)
            OR (e.excused_hundredths > 0 AND :scale * (e.held_hundredths - e.absent_hundredths
                - e.excused_hundredths) < :tasdiq * e.held_hundredths)
                IS DISTINCT FROM coalesce(o.t, false))
        ORDER BY e.id
      ) AS changed
    """
)


@dataclass(frozen=True)
class RangeCandidates:
    """What a scan batch must look at in its student id range."""

    enrollment_ids: list[int] | None  # the pairs an evaluation would change; None: evaluate them all
    active_students: int
    terms: list[int]  # the terms in progress (read in the same statement on PostgreSQL)


def range_candidates(session: Session, first: int, last: int, thresholds: Thresholds, today: date) -> RangeCandidates:
    """Return the enrollments of students [first, last] in the terms in progress on ``today``
    that an evaluation would change, how many active students the range holds, and those terms.

    Read without locks: the caller locks and re-evaluates these rows with the domain rules
    (a pair written meanwhile gets its own immediate check). ``enrollment_ids`` is None on
    SQLite, and for thresholds of more than 6 decimal places: the caller evaluates every
    enrollment of the range.
    """
    rules = integer_rules(thresholds)
    if session.get_bind().dialect.name != "postgresql" or rules is None:
        return RangeCandidates(None, count_active_students(session, first, last), terms_in_progress(session, today))
    params = {"first": first, "last": last, "today": today, **rules}
    students, terms, changed = session.execute(_CANDIDATES_SQL, params).one()
    return RangeCandidates(list(changed), students, list(terms))


def totals_for_pairs(
    session: Session, pairs: Sequence[tuple[int, int]], terms: Sequence[int], *, lock: bool = True
) -> list:
    """Return the totals rows, in ``terms``, of the given (student_id, course_id) pairs that are active."""
    rows: list = []
    pairs = sorted(set(map(tuple, pairs)))
    for start in range(0, len(pairs), CHUNK):
        chunk = pairs[start : start + CHUNK]
        rows.extend(
            session.execute(
                _totals_query(lock, terms).where(tuple_(Enrollment.student_id, Enrollment.course_id).in_(chunk))
            ).all()
        )
    return rows


def count_active_students(session: Session, first: int, last: int) -> int:
    """Return how many active students have an id in [first, last]."""
    return session.execute(
        select(func.count()).select_from(Student).where(Student.active.is_(True), Student.id.between(first, last))
    ).scalar_one()


def _open_alerts(
    session: Session, student_ids: Iterable[int], terms: Sequence[int]
) -> dict[tuple[int, int, int], dict[str, int]]:
    """``{(student, course, term): {kind: alert id}}`` of the open alerts of ``terms``."""
    found: dict[tuple[int, int, int], dict[str, int]] = {}
    ids = sorted(set(student_ids))
    columns = (Alert.id, Alert.student_id, Alert.course_id, Alert.term_id, Alert.kind)
    in_terms = Alert.term_id.in_(list(terms))
    if len(ids) > CHUNK:
        # A scan batch: its students are one id range, read in one statement (the index on
        # (student_id, course_id) serves it) and kept to the students asked about.
        wanted = set(ids)
        query = select(*columns).where(Alert.status == "open", Alert.student_id.between(ids[0], ids[-1]), in_terms)
        for alert_id, sid, cid, tid, kind in session.execute(query):
            if sid in wanted:
                found.setdefault((sid, cid, tid), {})[kind] = alert_id
        return found
    if ids:
        rows = session.execute(select(*columns).where(Alert.status == "open", Alert.student_id.in_(ids), in_terms))
        for alert_id, sid, cid, tid, kind in rows:
            found.setdefault((sid, cid, tid), {})[kind] = alert_id
    return found


def _resolve(session: Session, resolutions: dict[int, Decimal], now: datetime) -> int:
    resolved = 0
    ids = sorted(resolutions)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        stmt = (
            update(Alert)
            .where(Alert.id.in_(chunk), Alert.status == "open")
            .values(
                status="resolved",
                resolved_at=now,
                resolved_rate=case({i: resolutions[i] for i in chunk}, value=Alert.id),
            )
            .returning(Alert.id)
            .execution_options(synchronize_session=False)
        )
        resolved += len(session.execute(stmt).all())
    return resolved


def _insert_alerts(session: Session, rows: list[dict]) -> list:
    # ON CONFLICT on the partial unique index: a crossing another transaction opened first
    # returns nothing here (and so gets no second notification).
    return insert_rows(
        session,
        Alert.__table__,
        rows,
        returning=("id", "student_id", "course_id", "term_id", "kind", "suppressed"),
        conflict_index=("student_id", "course_id", "term_id", "kind"),
        conflict_where="status = 'open'",
    )


@dataclass
class _Plan:
    """What the rules decide for a set of totals rows, before anything is written."""

    resolutions: dict[int, Decimal] = field(default_factory=dict)  # open alert id -> rate at resolution
    resolved_rows: list[tuple] = field(default_factory=list)  # (totals row, kind, rate), for a dry run's list
    new_alerts: list[dict] = field(default_factory=list)
    facts_by_key: dict[tuple, tuple] = field(default_factory=dict)


def _plan(rows: Sequence, open_now: dict, thresholds: Thresholds, now: datetime) -> _Plan:
    plan = _Plan()
    for r in rows:
        totals = HourTotals(r.held_hours, r.absent_hours, r.excused_hours)
        result = evaluate(totals, thresholds)
        if result is None:
            continue
        open_kinds = open_now.get((r.student_id, r.course_id, r.term_id), {})
        changes = alert_changes(result.holding, frozenset(open_kinds))
        for kind in changes.to_resolve:
            plan.resolutions[open_kinds[kind]] = result.rate_for(kind)
            plan.resolved_rows.append((r, kind, result.rate_for(kind)))
        for kind, suppressed in changes.to_open:
            rate, threshold = result.rate_for(kind), thresholds.for_kind(kind)
            plan.new_alerts.append(
                {
                    "student_id": r.student_id,
                    "course_id": r.course_id,
                    "term_id": r.term_id,
                    "kind": kind,
                    "status": "open",
                    "suppressed": suppressed,
                    "rate": rate,
                    "threshold": threshold,
                    "held_hours": totals.held,
                    "absent_hours": totals.absent,
                    "excused_hours": totals.excused,
                    "opened_at": now,
                }
            )
            plan.facts_by_key[(r.student_id, r.course_id, r.term_id, kind)] = (r, rate, threshold, totals)
    return plan


def _change(r, kind: str, rate: Decimal, suppressed: bool | None = None) -> dict:
    """One line of a dry run's list: who, which course, which alert, at what rate."""
    change = {"studentNumber": r.student_number, "courseCode": r.code, "kind": kind, "rate": str(rate)}
    return change if suppressed is None else {**change, "suppressed": suppressed}


def apply_evaluations(
    session: Session, rows: Sequence, now: datetime, terms: Sequence[int], thresholds: Thresholds | None = None
) -> EvaluationResult:
    """Evaluate totals ``rows`` (of ``terms``, the terms in progress); resolve and open alerts
    in bulk. Does not commit.

    Returns the counts, the opened, unsuppressed alerts (each needs one notification), and
    who changed (``opened_list``/``resolved_list``, what a dry run reports).
    """
    thresholds = thresholds or Thresholds.from_config(current_app.config)
    counts = EvaluationCounts(students_checked=len({r.student_id for r in rows}))
    plan = _plan(rows, _open_alerts(session, (r.student_id for r in rows), terms), thresholds, now)
    counts.resolved = _resolve(session, plan.resolutions, now)
    default_language = current_app.config["DEFAULT_LANGUAGE"]
    opened: list[OpenedAlert] = []
    opened_list: list[dict] = []
    for alert_id, sid, cid, tid, kind, suppressed in _insert_alerts(session, plan.new_alerts):
        counts.opened[kind] += 1
        r, rate, threshold, totals = plan.facts_by_key[(sid, cid, tid, kind)]
        opened_list.append(_change(r, kind, rate, bool(suppressed)))
        if suppressed:
            counts.suppressed += 1
            continue
        facts = _facts(kind, r, rate, threshold, totals, thresholds)
        opened.append(OpenedAlert(alert_id, sid, facts, r.email, r.guardian_email, now, r.language or default_language))
    counts.notifications = len(opened)
    resolved_list = [_change(r, kind, rate) for r, kind, rate in plan.resolved_rows]
    return EvaluationResult(counts, opened, opened_list, resolved_list)


def _facts(kind: str, r, rate: Decimal, threshold: Decimal, totals: HourTotals, thresholds: Thresholds) -> AlertFacts:
    """What the letters of an alert opened from totals row ``r`` say, its forecast included."""
    outlook = forecast(r.planned_hours, totals.absent, thresholds.warning, thresholds.mahroom)
    return AlertFacts(
        kind,
        r.name,
        r.student_number,
        r.code,
        r.title,
        rate,
        threshold,
        totals.held,
        totals.absent,
        totals.excused,
        outlook,
    )
