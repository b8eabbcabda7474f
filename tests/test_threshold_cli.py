"""``flask thresholds check``, ``alerts list``, ``retry-queue`` and immediate checks after saving."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.attendance import importing
from portal.attendance.saving import save_attendance
from portal.domain.records import AttendanceInput
from portal.extensions import db
from portal.models import Alert, Delivery
from portal.queues import get_queue
from tests import factories


def seed_two_students():
    crs = factories.course("CS101")
    bad, sick = factories.student("BAD"), factories.student("SICK")
    factories.attend(bad, crs, ["absent", "absent", "present", "present"])
    factories.attend(sick, crs, ["sick", "sick", "present", "present", "present"])
    return crs


def test_thresholds_check_prints_a_summary_that_matches_alerts_list(app, runner):
    seed_two_students()
    result = runner.invoke(args=["thresholds", "check", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    listed = json.loads(runner.invoke(args=["alerts", "list", "--json"]).output)
    assert summary["totalStudentsChecked"] == 2
    for kind in ("warning", "mahroom", "tasdiq"):
        assert summary["alertsOpened"][kind] == sum(1 for a in listed if a["kind"] == kind and a["status"] == "open")
    bad_mahroom = next(a for a in listed if a["studentNumber"] == "BAD" and a["kind"] == "mahroom")
    assert (
        bad_mahroom["courseCode"] == "CS101" and bad_mahroom["rate"] == "50.00" and bad_mahroom["suppressed"] is False
    )
    assert bad_mahroom["openedAt"].endswith("Z") and bad_mahroom["resolvedAt"] is None
    assert {(a["studentNumber"], a["kind"], a["suppressed"]) for a in listed} == {
        ("BAD", "warning", True),
        ("BAD", "mahroom", False),
        ("SICK", "tasdiq", False),
    }


def test_thresholds_check_dry_run_says_who_and_writes_nothing(app, runner):
    seed_two_students()
    result = runner.invoke(args=["thresholds", "check", "--dry-run"])
    assert result.exit_code == 0 and result.output.startswith("Dry run")
    assert "1 mahroom" in result.output and "1 tasdiq" in result.output
    assert sorted(line.strip() for line in result.output.splitlines()[1:]) == [
        "would open: BAD\tCS101\tmahroom\t50.00%",
        "would open: BAD\tCS101\twarning (suppressed)\t50.00%",
        "would open: SICK\tCS101\ttasdiq\t60.00%",
    ]
    assert json.loads(runner.invoke(args=["alerts", "list", "--json"]).output) == []
    assert db.session.execute(select(Delivery)).first() is None


def test_a_dry_run_lists_the_alerts_that_would_resolve(app, runner):
    crs = seed_two_students()
    runner.invoke(args=["thresholds", "check"])
    bad = db.session.execute(select(factories.Student).where(factories.Student.student_number == "BAD")).scalar_one()
    factories.attend(bad, crs, ["present"] * 8, start=date(2026, 9, 1), slot=2)  # 20 of 24 h: 83.33 %
    summary = json.loads(runner.invoke(args=["thresholds", "check", "--dry-run", "--json"]).output)
    assert summary["dryRun"] is True and summary["wouldOpen"] == []
    assert sorted((c["studentNumber"], c["kind"], c["rate"]) for c in summary["wouldResolve"]) == [
        ("BAD", "mahroom", "83.33"),
        ("BAD", "warning", "83.33"),
    ]
    assert {a["status"] for a in json.loads(runner.invoke(args=["alerts", "list", "--json"]).output)} == {"open"}


def test_retry_queue_cli_shows_status_and_clears(app, runner, run_jobs, httpserver):
    httpserver.expect_request("/hook").respond_with_data("down", status=502)
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    seed_two_students()
    runner.invoke(args=["thresholds", "check"])
    run_jobs()
    status = json.loads(runner.invoke(args=["retry-queue", "status", "--json"]).output)
    assert status == {
        "totalPending": 2,
        "byType": {"warning": 0, "mahroom": 1, "tasdiq": 1},
        "byAttempts": {"1": 2},
        "grid": {"warning": {}, "mahroom": {"1": 1}, "tasdiq": {"1": 1}},
        "dead": 0,
    }
    result = runner.invoke(args=["retry-queue", "clear", "--yes"])
    assert result.exit_code == 0 and "Cancelled 2" in result.output
    assert {d.status for d in db.session.execute(select(Delivery).where(Delivery.channel == "webhook")).scalars()} == {
        "cancelled"
    }


def test_saving_attendance_checks_the_pair_on_the_urgent_queue_and_mahroom_goes_out(app, run_jobs, httpserver):
    httpserver.expect_request("/hook").respond_with_json({"ok": True})
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    factories.course("CS101")
    factories.student("S1")
    db.session.commit()
    records = [
        AttendanceInput("S1", "CS101", date(2026, 9, d), 1, Decimal("2"), "absent" if d < 3 else "present")
        for d in (1, 2, 3, 4)
    ]
    save_attendance(records)
    assert len(get_queue("urgent").job_ids) == 1
    run_jobs(["urgent"])  # the check, then the mahroom delivery it queued on urgent
    kinds = {a.kind for a in db.session.execute(select(Alert)).scalars()}
    assert kinds == {"warning", "mahroom"}
    assert len(httpserver.log) == 1 and json.loads(httpserver.log[0][0].data)["kind"] == "mahroom"


def test_importing_attendance_queues_an_immediate_check(app, run_jobs):
    factories.course("CS101")
    factories.student("S1")
    db.session.commit()
    csv = "student_number,course_code,date,slot,hours,status\n" + "".join(
        f"S1,CS101,2026-09-0{d},1,2,absent\n" for d in (1, 2, 3)
    )
    importing.import_csv("attendance", io.BytesIO(csv.encode()))
    run_jobs(["urgent"])
    assert {a.kind for a in db.session.execute(select(Alert)).scalars()} == {"warning", "mahroom"}


def test_a_dry_run_lists_exactly_the_alerts_the_real_run_then_opens(any_app):
    runner = any_app.test_cli_runner()
    seed_two_students()
    factories.attend(factories.student("WARN"), factories.course("CS102"), ["absent"] * 2 + ["present"] * 7)
    dry = json.loads(runner.invoke(args=["thresholds", "check", "--dry-run", "--json"]).output)
    runner.invoke(args=["thresholds", "check"])
    opened = json.loads(runner.invoke(args=["alerts", "list", "--json"]).output)

    def listed(changes):
        return sorted((c["studentNumber"], c["courseCode"], c["kind"], c["rate"], c["suppressed"]) for c in changes)

    assert listed(dry["wouldOpen"]) == listed(opened)
    assert listed(dry["wouldOpen"]) == [
        ("BAD", "CS101", "mahroom", "50.00", False),
        ("BAD", "CS101", "warning", "50.00", True),
        ("SICK", "CS101", "tasdiq", "60.00", False),
        ("WARN", "CS102", "warning", "77.77", False),  # 7 of 9 sessions, rounded down
    ]
