"""``POST /api/attendance`` under bad input (property-based): a clear JSON error, nothing written.

Complements tests/test_attendance_api.py (the examples) with generated bodies: malformed
JSON, wrong types in every field, unknown fields, duplicates, SQL and HTML in the text
fields, oversized bodies. ``database_snapshot`` is shared by the other bad-input tests.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.blueprints.attendance_api import MAX_RECORDS
from portal.domain.records import ATTENDANCE_FIELDS
from portal.extensions import db
from portal.queues import get_redis
from tests import factories

URL = "/api/attendance"
HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HOSTILE_TEXT = [
    "<script>alert(1)</script>",
    "'; DROP TABLE students; --",
    "S1' OR '1'='1",
    "S1\x00",
    '"><img src=x onerror=alert(1)>',
    "S1\u202e",
    "1; SELECT pg_sleep(5)",
]
# Every kind of JSON value, including the ones JSON parsers disagree about (NaN, huge integers).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(HOSTILE_TEXT),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def database_snapshot() -> dict:
    """Every row of every table (tokens' last-use time aside) and every RQ queue's length."""
    db.session.expire_all()
    tables = {}
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if (table.name, c.name) != ("api_tokens", "last_used_at")]
        rows = db.session.execute(select(*columns)).all()
        tables[table.name] = sorted(tuple(map(str, row)) for row in rows)
    db.session.rollback()
    redis = get_redis()
    queues = {key: redis.llen(key) for key in redis.scan_iter("rq:queue:*") if redis.type(key) == b"list"}
    return {"tables": tables, "queues": queues}


@pytest.fixture
def admin(app):
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


def assert_refused(response, before, statuses=(400,)):
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.is_json, response.get_data(as_text=True)[:300]
    body = response.json
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    assert database_snapshot() == before
    return body


@HYPOTHESIS
@given(body=st.binary(max_size=200))
def test_any_bytes_that_are_not_json_get_400_and_change_nothing(client, admin, body):
    try:
        json.loads(body)
        return  # valid JSON by chance: covered by the next test
    except ValueError:
        pass
    before = database_snapshot()
    body = assert_refused(client.post(URL, data=body, content_type="application/json", headers=admin), before)
    assert "not valid JSON" in body["error"]


@HYPOTHESIS
@given(payload=json_values)
@example(payload=None)  # JSON null is valid JSON, just not a list
def test_any_json_that_is_not_a_list_of_records_gets_a_clear_error_and_changes_nothing(client, admin, payload):
    before = database_snapshot()
    response = client.post(URL, data=json.dumps(payload), content_type="application/json", headers=admin)
    body = assert_refused(response, before)
    if not isinstance(payload, list | dict):
        assert body["error"] == "Expected a JSON list of attendance records."
    if isinstance(payload, list) and payload:
        assert body["error"] == "Some records are invalid; nothing was saved."
        assert all(isinstance(p["index"], int) and p["errors"] for p in body["problems"])


@HYPOTHESIS
@given(field=st.sampled_from(ATTENDANCE_FIELDS), value=json_values)
def test_a_wrong_value_in_any_field_rejects_the_whole_batch_naming_the_field(client, admin, field, value):
    good = _record(date="2026-10-01")
    candidate = _record(**{"date": "2026-10-08", field: value})
    before = database_snapshot()
    response = client.post(URL, json=[good, candidate], headers=admin)
    if response.status_code == 201:  # the generated value happened to be valid (e.g. slot 2)
        return
    body = assert_refused(response, before)
    [problem] = body["problems"]
    assert problem["index"] == 1
    reasons = " ".join(problem["errors"])
    assert field in reasons or "duplicates record 0" in reasons or "unknown" in reasons, reasons


@pytest.mark.parametrize("field", ATTENDANCE_FIELDS)
@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_sql_and_html_in_any_field_are_refused_as_data_and_answered_as_json(client, admin, field, text):
    before = database_snapshot()
    response = client.post(URL, json=[_record(**{field: text})], headers=admin)
    body = assert_refused(response, before)
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert field in " ".join(body["problems"][0]["errors"])


@HYPOTHESIS
@given(extra=st.dictionaries(st.text(min_size=1, max_size=20), json_values, min_size=1, max_size=3))
def test_unknown_fields_are_refused_and_named(client, admin, extra):
    extra = {k: v for k, v in extra.items() if k not in ATTENDANCE_FIELDS}
    if not extra:
        return
    before = database_snapshot()
    body = assert_refused(client.post(URL, json=[_record(**extra)], headers=admin), before)
    assert "unknown field(s)" in " ".join(body["problems"][0]["errors"])


@HYPOTHESIS
@given(copies=st.integers(min_value=2, max_value=5), hours=st.sampled_from(["1", "2", "0.5"]))
def test_duplicated_records_in_one_request_are_refused(client, admin, copies, hours):
    before = database_snapshot()
    records = [_record(hours=hours) for _ in range(copies)]
    body = assert_refused(client.post(URL, json=records, headers=admin), before)
    assert [p["index"] for p in body["problems"]] == list(range(1, copies))
    assert all("duplicates record 0" in p["errors"][0] for p in body["problems"])


def test_a_body_over_max_content_length_gets_413_as_json_and_changes_nothing(app, client, admin):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 5 * 1024 * 1024  # the documented default
    before = database_snapshot()
    records = json.dumps([_record()] * (limit // 80 + 1)).encode()
    assert len(records) > limit
    body = assert_refused(
        client.post(URL, data=records, content_type="application/json", headers=admin), before, statuses=(413,)
    )
    assert body["error"] == "The request body is larger than the 5,242,880 bytes allowed (MAX_CONTENT_LENGTH)."


@settings(HYPOTHESIS, max_examples=30)
@given(size=st.integers(min_value=2048, max_value=6000))
def test_the_size_limit_holds_at_every_size_over_it(app, client, admin, size):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    before = database_snapshot()
    body = b"[" + b" " * (size - 2) + b"]"
    response = client.post(URL, data=body, content_type="application/json", headers=admin)
    if size > 4096:
        assert "4,096 bytes allowed" in assert_refused(response, before, statuses=(413,))["error"]
    else:
        assert_refused(response, before)  # an empty list: 400


def test_more_records_than_allowed_get_413_naming_the_limit(client, admin):
    before = database_snapshot()
    body = assert_refused(client.post(URL, json=[{}] * (MAX_RECORDS + 1), headers=admin), before, statuses=(413,))
    assert str(MAX_RECORDS) in body["error"].replace(",", "")
