"""The admin API's actions under generated bad input: a JSON error, never a 500, nothing changed.

Complements the examples in tests/test_admin_api.py (each refusal with its status) with
bodies hypothesis makes up: any JSON value, any bytes, actions and job names of every type.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portal.blueprints.admin_api import READ_ONLY_ACTIONS, VALID_ACTIONS
from portal.periodic.jobs import job_names
from tests import factories
from tests.test_admin_api import pending_delivery
from tests.test_input_attendance_api import HOSTILE_TEXT, assert_refused, database_snapshot, json_values

API = "/api/admin/background-jobs"
JSON = "application/json"
HYPOTHESIS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
STATE_CHANGING = [a for a in VALID_ACTIONS if a not in READ_ONLY_ACTIONS]

bad_job_names = st.one_of(
    json_values.filter(lambda v: not isinstance(v, str)),
    st.text(max_size=60).filter(lambda v: v.strip() not in job_names()),
    st.sampled_from(HOSTILE_TEXT),
)


@pytest.fixture
def tokens(app):
    pending_delivery("S1")  # something for clearRetryQueue to change if it wrongly ran
    return {
        "admin": {"Authorization": f"Bearer {factories.token_for(factories.user('root', 'admin'))}"},
        "viewer": {"Authorization": f"Bearer {factories.token_for(factories.user('watcher', 'viewer'))}"},
    }


@HYPOTHESIS
@given(body=st.binary(max_size=120), method=st.sampled_from(["post", "put"]))
def test_bytes_that_are_not_json_get_400_and_change_nothing(client, tokens, body, method):
    try:
        json.loads(body)
        return
    except ValueError:
        pass
    before = database_snapshot()
    response = getattr(client, method)(API, data=body, content_type="application/json", headers=tokens["admin"])
    assert "not valid JSON" in assert_refused(response, before)["error"]


@HYPOTHESIS
@given(payload=json_values.filter(lambda v: not isinstance(v, dict)), method=st.sampled_from(["post", "put"]))
@example(payload=None, method="post")  # JSON null is valid JSON, just not an object
def test_json_that_is_not_an_object_gets_400_and_changes_nothing(client, tokens, payload, method):
    before = database_snapshot()
    response = getattr(client, method)(API, data=json.dumps(payload), content_type=JSON, headers=tokens["admin"])
    assert assert_refused(response, before)["error"] == "Expected a JSON object."


@HYPOTHESIS
@given(action=json_values | st.sampled_from(HOSTILE_TEXT), extra=st.dictionaries(st.text(max_size=8), json_values))
def test_a_missing_or_unknown_action_gets_400_listing_the_valid_ones(client, tokens, action, extra):
    if action in VALID_ACTIONS:
        return
    before = database_snapshot()
    response = client.post(API, json={**extra, "action": action}, headers=tokens["admin"])
    body = assert_refused(response, before)
    assert body["validActions"] == list(VALID_ACTIONS)


@HYPOTHESIS
@given(action=st.sampled_from(["start", "stop", "trigger", "getJobStatus"]), name=bad_job_names)
def test_a_bad_job_name_gets_400_or_404_and_changes_nothing(client, tokens, action, name):
    before = database_snapshot()
    response = client.post(API, json={"action": action, "jobName": name}, headers=tokens["admin"])
    body = assert_refused(response, before, statuses=(400, 404))
    assert "jobName" in body["error"] or "No job named" in body["error"]
    assert "<script>" not in response.get_data(as_text=True) or response.mimetype == "application/json"


@HYPOTHESIS
@given(name=bad_job_names | st.sampled_from(job_names()), enabled=json_values)
def test_put_with_a_bad_name_or_a_non_boolean_enabled_changes_nothing(client, tokens, name, enabled):
    if isinstance(enabled, bool) and isinstance(name, str) and name.strip() in job_names():
        return
    before = database_snapshot()
    response = client.put(API, json={"jobName": name, "enabled": enabled}, headers=tokens["admin"])
    assert_refused(response, before, statuses=(400, 404))


@HYPOTHESIS
@given(
    action=st.sampled_from(STATE_CHANGING),
    name=st.sampled_from(job_names()) | bad_job_names,
    extra=st.dictionaries(st.text(max_size=8), json_values, max_size=2),
)
def test_a_viewer_changes_nothing_whatever_the_body(client, tokens, action, name, extra):
    before = database_snapshot()
    response = client.post(API, json={**extra, "action": action, "jobName": name}, headers=tokens["viewer"])
    assert "admin" in assert_refused(response, before, statuses=(403,))["error"]
    response = client.put(API, json={"jobName": name, "enabled": False}, headers=tokens["viewer"])
    assert_refused(response, before, statuses=(403,))


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (path, query)
        for path, name in (("/api/admin/alerts", "kind"), ("/api/admin/retry-queue", "type"))
        for query in ("page=-1", "page=1e9", "perPage=%00", "status=' OR 1=1 --", f"{name}=<script>")
    ],
)
def test_hostile_list_arguments_get_400_as_json(client, tokens, path, query):
    before = database_snapshot()
    response = client.get(f"{path}?{query}", headers=tokens["viewer"])
    assert_refused(response, before, statuses=(400,))
