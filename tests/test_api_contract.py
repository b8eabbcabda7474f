"""schemathesis against the real JSON API, in process: every answer must match /api/openapi.json.

The schema is loaded from the app itself (``schemathesis.openapi.from_wsgi``), on the usual
fresh database and empty Redis, and every operation is called with a real admin token:
the documented examples, the coverage phase's boundary and invalid values, and a few
fuzzed ones. Every check runs: no 500, status codes, content types, headers and bodies as
documented, invalid input refused, valid input accepted. Generation is derandomized with no
example database, so every run sends the same requests.
"""

from __future__ import annotations

import contextvars
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from portal.extensions import db
from tests import factories
from tests.test_admin_api import pending_delivery

# Fuzzed examples per operation (the examples and coverage phases add their own, bounded, cases).
FUZZED_PER_OPERATION = 10
MAX_CALLS = 900  # the stop actions' reason and until (714 calls) and the queue pause routes add cases
# Invalid input may also be refused with 413: more records than one request may carry.
REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}},
        # Methods no path takes must get 405; three of them are enough to show it.
        "phases": {"coverage": {"unexpected-methods": ["DELETE", "PATCH", "TRACE"]}},
    }
)


def in_own_context(app):
    """The app as a WSGI callable whose every request runs in a fresh context, as in production.

    The ``app`` fixture keeps an app context pushed for the test body; without this, Flask
    would reuse it for each request and ``g`` (the API caller) would leak between requests.
    """

    def wsgi(environ, start_response):
        environ.setdefault("REMOTE_ADDR", "127.0.0.1")  # a real server always says who is calling
        return contextvars.Context().run(app, environ, start_response)

    return wsgi


@pytest.fixture
def admin_headers(app):
    token = factories.token_for(factories.user("contract-admin", "admin"))
    pending_delivery("S1001", attempts=2)  # an open alert, and a delivery waiting for its 3rd attempt
    pending_delivery("S1002", kind="mahroom", status="dead", attempts=5)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api_schema(app, admin_headers):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", in_own_context(app), config=CONFIG)


@pytest.fixture
def calls():
    """What was sent: ``(method, path, status)`` counts; checked once every operation ran."""
    seen: Counter = Counter()
    yield seen
    total = sum(seen.values())
    print(f"\nschemathesis: {total} calls")
    assert 0 < total <= MAX_CALLS, total
    statuses = {(method, path): {s for (m, p, s) in seen if (m, p) == (method, path)} for method, path, _ in seen}
    # Not only refusals: each operation succeeded at least once with the seeded data.
    assert 200 in statuses[("GET", "/api/admin/background-jobs")]
    assert {200, 202} <= statuses[("POST", "/api/admin/background-jobs")]
    assert 200 in statuses[("PUT", "/api/admin/background-jobs")]
    assert 200 in statuses[("GET", "/api/admin/alerts")]
    assert 200 in statuses[("GET", "/api/admin/retry-queue")]
    assert 201 in statuses[("POST", "/api/attendance")]
    assert 200 in statuses[("GET", "/api/admin/queues")]
    assert 200 in statuses[("POST", "/api/admin/queues/{name}/pause")]
    assert 200 in statuses[("POST", "/api/admin/queues/{name}/resume")]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=FUZZED_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case, admin_headers, calls):
    excluded = []
    if case.path == "/api/attendance":
        # A well-formed record is still refused (400) when its student or course does not
        # exist or its date is after today: validity depends on the data, which no schema says.
        excluded.append(positive_data_acceptance)
    response = case.call_and_validate(headers=admin_headers, excluded_checks=excluded)
    calls[(case.method.upper(), case.path, response.status_code)] += 1
