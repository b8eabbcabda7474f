"""The follow-up of an alert's case on a real database: every step writes exactly its row and
its audit entry, a refusal writes nothing, two admins at once lose no step (PostgreSQL's row
lock), viewers see no forms and are refused, and the student page shows the steps."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from portal.alerts import cases
from portal.alerts.case_views import case_views
from portal.alerts.scan import run_threshold_check
from portal.clock import utcnow
from portal.extensions import db
from portal.models import Alert, AlertCase, AlertNote, AuditLog, Course, User
from tests import factories
from tests.test_pages import signed_in  # noqa: F401  (the fixture)


def mahroom_student(number: str = "S1", course: str = "CS101") -> Alert:
    """A student at exactly 75 % in ``course``: a mahroom alert and the suppressed warning, open."""
    stu = factories.student(number)
    crs = db.session.scalar(select(Course).where(Course.code == course)) or factories.course(course)
    factories.attend(stu, crs, ["absent"] * 4 + ["present"] * 12)
    run_threshold_check()
    return db.session.scalar(select(Alert).where(Alert.student_id == stu.id, Alert.kind == "mahroom"))


def counts() -> tuple[int, int, int]:
    """(case rows, notes, audit entries of cases)."""
    return (
        db.session.scalar(select(func.count()).select_from(AlertCase)),
        db.session.scalar(select(func.count()).select_from(AlertNote)),
        db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("case.%"))),
    )


def case_audit() -> list[tuple[str, str, str, dict]]:
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action.like("case.%")).order_by(AuditLog.id))
    return [(e.actor, e.action, e.target, e.details) for e in rows]


def test_each_step_writes_its_row_and_one_audit_entry_and_the_alert_stays_open(any_app):
    alert = mahroom_student()
    boss, amina = factories.user("boss", "admin"), factories.user("amina", "viewer")
    assert counts() == (0, 0, 0)

    cases.acknowledge(alert.id, boss)
    case = db.session.get(AlertCase, alert.id)
    assert (case.acknowledged_by_id, case.assigned_to_id, case.outcome) == (boss.id, None, None)
    assert counts() == (1, 0, 1)

    cases.assign(alert.id, "amina", boss)
    assert db.session.get(AlertCase, alert.id).assigned_to_id == amina.id
    assert counts() == (1, 0, 2)

    cases.add_note(alert.id, "  Called the guardian; will bring the certificate.  ", boss)
    assert db.session.scalars(select(AlertNote.body)).all() == ["Called the guardian; will bring the certificate."]
    assert counts() == (1, 1, 3)

    cases.handle(alert.id, "contacted", boss)
    case = db.session.get(AlertCase, alert.id)
    assert (case.outcome, case.handled_by_id) == ("contacted", boss.id) and case.handled_at is not None
    assert counts() == (1, 1, 4)
    assert db.session.get(Alert, alert.id).status == "open"  # handled is not resolved: still barred

    target = f"alert {alert.id}"
    assert case_audit() == [
        ("boss", "case.acknowledge", target, {}),
        ("boss", "case.assign", target, {"assignee": "amina", "previous": None}),
        ("boss", "case.note", target, {"note": db.session.scalar(select(AlertNote.id)), "chars": 48}),
        ("boss", "case.handle", target, {"outcome": "contacted"}),
    ]
    view = case_views([alert.id])[alert.id]
    assert (view.state, view.outcome, view.status_text) == ("handled", "contacted", "handled: contacted")
    assert [step.what for step in view.steps] == ["acknowledged", "assigned", "note", "handled"]

    cases.reopen(alert.id, boss)
    assert case_views([alert.id])[alert.id].state == "assigned"
    assert case_audit()[-1][1:] == ("case.reopen", target, {"outcome": "contacted", "handledBy": "boss"})


def test_refusals_name_the_problem_and_write_nothing(any_app):
    alert = mahroom_student()
    boss = factories.user("boss", "admin")
    gone = factories.user("gone", "viewer")
    gone.active = False
    db.session.commit()
    refusals = [
        (lambda: cases.assign(alert.id, "nobody", boss), "No active user is called 'nobody'."),
        (lambda: cases.assign(alert.id, "gone", boss), "No active user is called 'gone'."),
        (lambda: cases.assign(alert.id, "  ", boss), "Choose the user to assign the case to."),
        (lambda: cases.add_note(alert.id, " \n ", boss), "A note cannot be empty."),
        (
            lambda: cases.add_note(alert.id, "x" * 2001, boss),
            "A note holds at most 2000 characters; this one has 2001.",
        ),
        (lambda: cases.handle(alert.id, "forgotten", boss), "The outcome must be one of contacted, certificate"),
        (lambda: cases.reopen(alert.id, boss), f"Alert {alert.id} is not handled: there is nothing to reopen."),
    ]
    for step, message in refusals:
        with pytest.raises(cases.CaseError, match=message[:40].replace("(", r"\(").replace(".", r"\.")):
            step()
        assert counts() == (0, 0, 0), message  # not even the empty case row

    cases.handle(alert.id, "appeal", boss)
    before = counts()
    with pytest.raises(cases.CaseError, match=f"Alert {alert.id} was already handled by boss \\(appeal\\)"):
        cases.handle(alert.id, "contacted", boss)
    with pytest.raises(cases.CaseError, match="already handled"):
        cases.acknowledge(alert.id, boss)
    assert counts() == before and db.session.get(AlertCase, alert.id).outcome == "appeal"
    with pytest.raises(cases.NoSuchAlert):
        cases.handle(999_999, "contacted", boss)


def _waiting_for_a_lock() -> bool:
    return bool(
        db.session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    )


def test_two_admins_handling_at_once_on_postgresql_one_wins_the_other_is_refused(pg_app):
    alert = mahroom_student()
    first, second = factories.user("first", "admin"), factories.user("second", "admin")
    alert_id, second_id = alert.id, second.id
    cases.acknowledge(alert_id, first)
    outcome: dict = {}

    def other_admin():
        with pg_app.app_context():
            try:
                cases.handle(alert_id, "certificate", db.session.get(User, second_id))
                outcome["second"] = "handled"
            except cases.CaseError as exc:
                outcome["second"] = str(exc)

    # The first admin holds the case row (mid-step) while the second one's step starts.
    with pg_app.app_context():
        locked = cases._locked_case(alert_id)
        thread = threading.Thread(target=other_admin)
        thread.start()
        with pg_app.app_context():
            deadline = time.monotonic() + 10
            while not _waiting_for_a_lock() and time.monotonic() < deadline:
                db.session.rollback()  # a fresh snapshot of pg_stat_activity
            assert _waiting_for_a_lock(), "the second admin's step should wait for the row lock"
        locked.handled_at, locked.handled_by_id, locked.outcome = utcnow(), first.id, "contacted"
        cases._commit_step(first, "case.handle", alert_id, {"outcome": "contacted"}, "page", None)
    thread.join(10)
    assert outcome["second"] == f"Alert {alert_id} was already handled by first (contacted)."
    assert db.session.get(AlertCase, alert_id).outcome == "contacted"
    assert [a[1] for a in case_audit()] == ["case.acknowledge", "case.handle"]


def test_a_viewer_sees_the_case_without_forms_and_a_post_is_refused(client, signed_in):  # noqa: F811
    alert = mahroom_student()
    post = signed_in("viewer")
    page = client.get("/students/S1").get_data(as_text=True)
    assert f'id="alert-{alert.id}"' in page and 'data-case-state="new"' in page
    assert "Acknowledge" not in page and 'name="assignee"' not in page and 'name="body"' not in page
    for step, data in [("acknowledge", {}), ("assign", {"assignee": "viewer"}), ("notes", {"body": "hi"})]:
        assert post(f"/cases/{alert.id}/{step}", **data).status_code == 403
    assert post(f"/cases/{alert.id}/handle", outcome="contacted").status_code == 403
    assert client.get(f"/cases/{alert.id}/handle").status_code == 403
    assert counts() == (0, 0, 0)


def test_an_admin_follows_a_case_up_to_handled_from_the_student_page(client, signed_in):  # noqa: F811
    alert = mahroom_student()
    post = signed_in("admin")
    page = post(f"/cases/{alert.id}/acknowledge").get_data(as_text=True)
    assert f"Alert {alert.id} is acknowledged." in page and 'data-case-state="acknowledged"' in page
    page = post(f"/cases/{alert.id}/assign", assignee="nobody").get_data(as_text=True)
    assert "the step was refused: No active user is called &#39;nobody&#39;." in page
    page = post(f"/cases/{alert.id}/assign", assignee="admin").get_data(as_text=True)
    assert "assigned to admin" in page
    page = post(f"/cases/{alert.id}/notes", body="Phoned the guardian.").get_data(as_text=True)
    assert "Phoned the guardian." in page
    confirm = client.get(f"/cases/{alert.id}/handle?outcome=contacted").get_data(as_text=True)
    assert f"Close alert {alert.id} as handled?" in confirm and '<option value="contacted" selected>' in confirm
    assert counts() == (1, 1, 3)  # the confirmation page changed nothing
    page = post(f"/cases/{alert.id}/handle", outcome="contacted").get_data(as_text=True)
    assert "handled: contacted" in page and 'data-case-state="handled"' in page
    steps = page[page.index(f'id="alert-{alert.id}"') :]
    assert [s for s in ("acknowledged", "assigned", "note", "handled") if f'data-step="{s}"' in steps] == [
        "acknowledged",
        "assigned",
        "note",
        "handled",
    ]
    assert "<time" in steps.split('data-step="handled"')[1][:200]  # in local time, UTC on hover
    assert post("/cases/999999/acknowledge").status_code == 404
