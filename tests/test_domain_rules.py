"""The rates, the three alert rules and the retry policy as plain functions, at every boundary
(and late records through the saving service, the path that turns records into hour totals)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from portal.alerts.scan import run_threshold_check
from portal.domain.rates import HourTotals, attendance_rate, presence_rate
from portal.domain.retry import PERMANENT, TRANSIENT, RetryPolicy, http_failure, smtp_failure
from portal.domain.rules import Thresholds, alert_changes, evaluate
from portal.extensions import db
from portal.models import AttendanceRecord, Enrollment, Student
from tests import factories

DEFAULT = Thresholds()


def kinds(held, absent, excused="0", thresholds=DEFAULT):
    result = evaluate(HourTotals(D(held), D(absent), D(excused)), thresholds)
    return None if result is None else set(result.holding)


@pytest.mark.parametrize(
    ("held", "absent", "expected"),
    [
        ("100", "20", set()),  # exactly 80.00 %: no warning
        ("10000", "2001", {"warning"}),  # 79.99 %
        ("100", "25", {"warning", "mahroom"}),  # exactly 75.00 %: mahroom
        ("10000", "2499", {"warning"}),  # 75.01 %: warning only
        ("3", "1", {"warning", "mahroom"}),  # 66.66... %
    ],
)
def test_warning_and_mahroom_boundaries_are_exact(held, absent, expected):
    assert kinds(held, absent) == expected


def test_rate_of_79_999_is_a_warning_even_though_it_shows_as_79_99():
    totals = HourTotals(D("100000"), D("20001"), D("0"))
    assert attendance_rate(totals) == D("79.99")
    assert kinds("100000", "20001") == {"warning"}


def test_rate_just_above_80_is_no_warning_with_fractional_hours():
    # 1.5 h absent of 7.5 h held is exactly 80 %; 1.49 h absent is above it.
    assert kinds("7.5", "1.5") == set()
    assert kinds("7.5", "1.51") == {"warning"}
    assert kinds("7.5", "1.49") == set()


@pytest.mark.parametrize(
    ("held", "absent", "excused", "expected"),
    [
        ("100", "0", "15", set()),  # presence exactly 85.00 %: no tasdiq
        ("10000", "0", "1501", {"tasdiq"}),  # 84.99 %
        ("100", "5", "11", {"tasdiq"}),  # absences and excused together push presence below 85
        ("100", "16", "0", set()),  # presence 84 % but nothing excused: no tasdiq
        ("100", "0", "30", {"tasdiq"}),  # sick hours do not lower the attendance rate
    ],
)
def test_tasdiq_needs_presence_below_85_and_some_excused_hours(held, absent, excused, expected):
    assert kinds(held, absent, excused) == expected


def test_late_counts_as_present_so_late_hours_never_lower_a_rate(any_app):
    # Late records, saved through the service every write path uses, reach the rules as
    # held-but-not-absent hours: exactly like present ones, never like absent ones.
    crs = factories.course("CS101")
    for number, statuses in {"ONTIME": ["present"] * 4, "LATE": ["late"] * 4, "MIXED": ["late", "present"] * 2}.items():
        factories.attend(factories.student(number, email=None), crs, [*statuses, "absent"])  # 5 two-hour sessions
    rows = db.session.execute(
        select(Student.student_number, Enrollment.held_hours, Enrollment.absent_hours, Enrollment.excused_hours).join(
            Student, Student.id == Enrollment.student_id
        )
    ).all()
    totals = {number: HourTotals(held, absent, excused) for number, held, absent, excused in rows}
    assert totals == dict.fromkeys(["ONTIME", "LATE", "MIXED"], HourTotals(D("10"), D("2"), D("0")))
    assert {attendance_rate(t) for t in totals.values()} == {presence_rate(t) for t in totals.values()} == {D("80.00")}
    assert {number: set(evaluate(t, DEFAULT).holding) for number, t in totals.items()} == dict.fromkeys(totals, set())
    late = select(func.count()).select_from(AttendanceRecord).where(AttendanceRecord.status == "late")
    assert db.session.scalar(late) == 6  # stored as late, counted as present
    assert run_threshold_check()["alertsOpened"] == {"warning": 0, "mahroom": 0, "tasdiq": 0}
    assert kinds("10", "0") == set()
    assert attendance_rate(HourTotals(D("10"), D("0"), D("0"))) == D("100.00")


def test_zero_held_hours_means_no_evaluation():
    assert kinds("0", "0") is None


def test_minimum_held_hours_postpones_evaluation():
    thresholds = Thresholds(min_held_hours=D("6"))
    assert kinds("4", "4", thresholds=thresholds) is None
    assert kinds("6", "6", thresholds=thresholds) == {"warning", "mahroom"}


def test_rates_are_exact_decimals_rounded_down_for_display():
    totals = HourTotals(D("7.5"), D("1.25"), D("0.75"))
    assert attendance_rate(totals) == D("83.33")
    assert presence_rate(totals) == D("73.33")
    assert presence_rate(HourTotals(D("0"), D("0"), D("0"))) is None


def test_thresholds_come_from_config():
    t = Thresholds.from_config(
        {
            "WARNING_THRESHOLD": D("90"),
            "MAHROOM_THRESHOLD": D("70"),
            "TASDIQ_THRESHOLD": D("95"),
            "ATTENDANCE_MIN_HELD_HOURS": D("2"),
        }
    )
    assert kinds("100", "11", thresholds=t) == {"warning"}
    assert kinds("100", "0", "4", thresholds=t) == set()
    assert kinds("100", "0", "6", thresholds=t) == {"tasdiq"}


def test_warning_opening_together_with_mahroom_is_suppressed():
    changes = alert_changes(frozenset({"warning", "mahroom"}), frozenset())
    assert changes.to_open == (("warning", True), ("mahroom", False))


def test_open_alerts_are_not_opened_again_and_resolve_when_the_condition_ends():
    changes = alert_changes(frozenset({"warning"}), frozenset({"warning", "mahroom"}))
    assert changes.to_open == ()
    assert changes.to_resolve == {"mahroom"}


def test_mahroom_after_an_earlier_warning_escalates_and_tasdiq_is_independent():
    changes = alert_changes(frozenset({"warning", "mahroom", "tasdiq"}), frozenset({"warning"}))
    assert changes.to_open == (("mahroom", False), ("tasdiq", False))


def test_retry_policy_waits_15_30_60_minutes_then_gives_up():
    policy = RetryPolicy((15, 30, 60))
    now = datetime(2026, 10, 1, 8, 0)
    waits = [policy.after_failure(n, TRANSIENT, now) for n in (1, 2, 3)]
    assert [(d.status, d.next_attempt_at - now) for d in waits] == [
        ("pending", timedelta(minutes=15)),
        ("pending", timedelta(minutes=30)),
        ("pending", timedelta(minutes=60)),
    ]
    assert policy.after_failure(4, TRANSIENT, now).status == "dead"
    assert policy.after_failure(1, PERMANENT, now).status == "dead"
    assert policy.max_attempts == 4


@pytest.mark.parametrize(
    ("code", "kind"), [(421, TRANSIENT), (451, TRANSIENT), (550, PERMANENT), (554, PERMANENT), (None, TRANSIENT)]
)
def test_smtp_5xx_is_permanent_and_4xx_or_network_errors_are_transient(code, kind):
    assert smtp_failure(code) == kind


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, TRANSIENT),
        (503, TRANSIENT),
        (408, TRANSIENT),
        (429, TRANSIENT),
        (400, PERMANENT),
        (404, PERMANENT),
        (None, TRANSIENT),
    ],
)
def test_http_4xx_is_permanent_except_408_and_429(status, kind):
    assert http_failure(status) == kind
