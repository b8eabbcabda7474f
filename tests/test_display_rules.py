"""One home per shown number: a rate reads the same on the alert, in the letter, in the cache,
in the course statistics and in the API; thresholds read the same whichever path wrote the letter;
the statistics count exactly what the scan decides, whatever the threshold's decimals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.alerts.course_stats import course_stats, refresh_course_stats
from portal.alerts.scan import check_pairs, run_threshold_check
from portal.attendance import summary_cache
from portal.extensions import db
from portal.models import Alert, Notification
from portal.operations.browse import alert_json
from tests import factories
from tests.factories import TERM_START


def _sessions(stu, crs, status: str, hours: str, count: int, week: int) -> int:
    factories.attend(stu, crs, [status] * count, hours=hours, start=TERM_START + timedelta(days=7 * week))
    return week + count


def test_a_rate_of_two_thirds_shows_66_66_everywhere(any_app, run_jobs):
    # 4 h attended of 6 h held: 66.666...% (mahroom). Rounding half-up anywhere would show 66.67.
    stu, crs = factories.student("S1"), factories.course("CS101")
    factories.attend(stu, crs, ["present", "present", "absent"])

    run_threshold_check()
    run_jobs()
    summary_cache.refresh_summaries()
    refresh_course_stats()

    alert = db.session.scalar(select(Alert).where(Alert.kind == "mahroom"))
    assert alert.rate == Decimal("66.66")
    assert alert_json(alert)["rate"] == "66.66"
    assert summary_cache.get_summary(stu.id)["courses"][0]["attendanceRate"] == "66.66"
    assert next(row for row in course_stats() if row["code"] == "CS101")["attendanceRate"] == Decimal("66.66")
    body = db.session.scalar(select(Notification.body).where(Notification.alert_id == alert.id))
    assert "is 66.66%, at or below the limit of 75.00%" in body


def test_the_scan_and_the_immediate_check_write_the_threshold_alike(app, run_jobs):
    crs = factories.course("CS101")
    by_scan, by_check = factories.student("S1"), factories.student("S2")
    factories.attend(by_scan, crs, ["present", "absent"])
    run_threshold_check()  # S1's letter: written by the scan's fan-out from the alert row
    run_jobs()
    factories.attend(by_check, crs, ["present", "absent"])
    check_pairs([[by_check.id, crs.id]])  # S2's letter: written by the immediate check

    bodies = {
        number: db.session.scalar(
            select(Notification.body)
            .join(Alert)
            .where(Alert.kind == "mahroom", Alert.student.has(student_number=number))
        )
        for number in ("S1", "S2")
    }
    assert "is 50.00%, at or below the limit of 75.00%." in bodies["S1"]
    assert bodies["S1"].replace("S000001", "") == bodies["S2"].replace("S000002", "").replace("S2", "S1")


@pytest.mark.parametrize("app_config", [{"WARNING_THRESHOLD": Decimal("79.995")}])
def test_course_statistics_count_a_three_place_threshold_as_the_scan_does(any_app, app_config):
    crs = factories.course("CS101")
    above, below = factories.student("S1"), factories.student("S2")
    # S1: 199.99 h attended of 250 h held = 79.996 %, not below 79.995 %: no warning.
    week = _sessions(above, crs, "present", "20", 9, 0)
    week = _sessions(above, crs, "present", "19.99", 1, week)
    week = _sessions(above, crs, "absent", "24", 2, week)
    _sessions(above, crs, "absent", "2.01", 1, week)
    # S2: 399.97 h attended of 500 h held = 79.994 %: a warning.
    week = _sessions(below, crs, "present", "20", 19, 0)
    week = _sessions(below, crs, "present", "19.97", 1, week)
    week = _sessions(below, crs, "absent", "20", 5, week)
    _sessions(below, crs, "absent", "0.03", 1, week)

    run_threshold_check()
    refresh_course_stats()

    warned = db.session.scalars(select(Alert.student_id).where(Alert.kind == "warning")).all()
    assert warned == [below.id]
    stats = next(row for row in course_stats() if row["code"] == "CS101")
    assert (stats["atWarning"], stats["atMahroom"]) == (1, 0)
