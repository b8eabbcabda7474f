"""POST /api/attendance: every problem listed, all records written or none."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rq import Queue
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AttendanceRecord, Enrollment
from portal.queues import get_redis
from tests import factories


@pytest.fixture
def auth(app):
    factories.student("S1")
    factories.course("CS101")
    db.session.commit()
    return {"Authorization": f"Bearer {factories.token_for(factories.user())}"}


def _record(**overrides):
    record = {
        "student_number": "S1",
        "course_code": "CS101",
        "date": "2026-10-01",
        "slot": 1,
        "hours": "2",
        "status": "absent",
    }
    record.update(overrides)
    return record


def _records() -> int:
    return db.session.execute(select(func.count()).select_from(AttendanceRecord)).scalar_one()


def test_valid_records_are_saved_with_totals_and_an_urgent_check_is_queued(client, auth):
    response = client.post(
        "/api/attendance", json=[_record(), _record(date="2026-10-08", status="present")], headers=auth
    )
    assert response.status_code == 201, response.json
    assert response.json["data"] == {"saved": 2, "pairs": 1}
    enrollment = db.session.execute(select(Enrollment)).scalar_one()
    assert (enrollment.held_hours, enrollment.absent_hours) == (Decimal("4"), Decimal("2"))
    urgent = Queue("urgent", connection=get_redis())
    assert [job.func_name for job in urgent.jobs] == ["workers.thresholds.check_pairs"]


def test_one_bad_record_rejects_the_whole_request_and_lists_every_problem(client, auth):
    response = client.post(
        "/api/attendance",
        json=[_record(), _record(hours="-1", status="gone"), _record(student_number="S404", date="2026-10-08"), "text"],
        headers=auth,
    )
    assert response.status_code == 400
    problems = {p["index"]: " ".join(p["errors"]) for p in response.json["problems"]}
    assert sorted(problems) == [1, 3]
    assert "hours must be positive" in problems[1] and "status 'gone'" in problems[1]
    assert "must be a JSON object" in problems[3]
    assert _records() == 0
    # Unknown students are found in the second pass, still before anything is written.
    response = client.post(
        "/api/attendance", json=[_record(), _record(student_number="S404", date="2026-10-08")], headers=auth
    )
    assert response.status_code == 400
    assert response.json["problems"] == [{"index": 1, "errors": ["unknown student 'S404'"]}]
    assert _records() == 0


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400, "not valid JSON"),
        ({"data": "a,b", "content_type": "text/csv"}, 415, "JSON"),
        ({"json": {"student_number": "S1"}}, 400, "Expected a JSON list"),
        ({"json": []}, 400, "empty"),
        ({"json": [_record(extra="x")]}, 400, "unknown field(s) extra"),
        ({"json": [_record(), _record()]}, 400, "duplicates record 0"),
    ],
)
def test_malformed_requests_get_a_clear_error_and_change_nothing(client, auth, kwargs, status, message):
    response = client.post("/api/attendance", headers=auth, **kwargs)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert _records() == 0


def test_requests_without_credentials_or_with_a_viewer_token_are_refused(client, auth):
    assert client.post("/api/attendance", json=[_record()]).status_code == 401
    viewer = factories.user("viewer", role="viewer")
    response = client.post(
        "/api/attendance", json=[_record()], headers={"Authorization": f"Bearer {factories.token_for(viewer)}"}
    )
    assert response.status_code == 403
    assert (
        client.post("/api/attendance", json=[_record()], headers={"Authorization": "Bearer att_wrong"}).status_code
        == 401
    )
    assert _records() == 0


def test_a_save_is_audit_logged_with_who_and_how_many(client, auth):
    from portal.models import AuditLog

    assert client.post("/api/attendance", json=[_record(), _record(date="2026-10-08")], headers=auth).status_code == 201
    entry = db.session.execute(select(AuditLog).where(AuditLog.action == "attendance.save")).scalar_one()
    assert (entry.actor, entry.source, entry.details) == ("admin", "api", {"records": 2, "pairs": 1})
