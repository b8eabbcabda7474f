"""Redis stopped (a private redis-server killed): the pages the database can serve still answer,
each with the critical banner naming where Redis is; actions that need Redis are refused
with a message and change nothing in the database."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal import redis_status
from portal.extensions import db
from portal.models import AuditLog, Delivery, JobRun
from tests.adminkit import pending_delivery
from tests.faultkit import RedisServer
from tests.test_pages import signed_in  # noqa: F401 - the fixture

BANNER = "Redis is unreachable at 127.0.0.1:"
PAGES = (
    "/",
    "/jobs/cache-refresh",
    "/jobs/notification-threshold-monitor",
    "/retry-queue/",
    "/retry-queue/?status=dead",
    "/notifications",
    "/at-risk",
    "/at-risk?course=CS101",
    "/audit",
    "/letters/",
    "/accounts/",
    "/students/S1",
)


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def app_config(private_redis):
    # No cached answer between the test's steps: each request probes again.
    return {"REDIS_URL": private_redis.url, "REDIS_STATUS_SECONDS": 0}


@pytest.fixture
def redis_down(app, client, signed_in, private_redis):  # noqa: F811
    """Signed in as an admin (while Redis was up), one dead delivery; then Redis is killed."""
    post = signed_in("admin")
    delivery = pending_delivery("S1", "mahroom", status="dead", attempts=4)
    private_redis.kill()
    return post, delivery


def _counts() -> tuple[int, int]:
    db.session.expire_all()
    runs = db.session.scalar(select(func.count()).select_from(JobRun))
    audits = db.session.scalar(select(func.count()).select_from(AuditLog))
    return runs, audits


@pytest.mark.parametrize("url", PAGES)
def test_every_database_page_answers_with_the_critical_redis_banner(client, redis_down, private_redis, url):
    response = client.get(url)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:500]
    assert 'data-health="critical"' in page
    assert f"{BANNER}{private_redis.port} (check REDIS_URL / sentinel settings)" in page
    assert page.count(BANNER) == (2 if url == "/" else 1)  # the dashboard's queues card says it too


def test_the_dashboard_lists_the_jobs_from_the_database_and_says_queues_are_unknown(client, redis_down):
    page = client.get("/").get_data(as_text=True)
    for name in ("notification-threshold-monitor", "cache-refresh", "audit-log-archival"):
        assert name in page
    assert "data-redis-down" in page and 'data-queue="urgent"' not in page
    fragment = client.get("/live/queues").get_data(as_text=True)
    assert "data-redis-down" in fragment and BANNER in fragment


def test_the_banner_goes_when_redis_is_back(client, redis_down, private_redis):
    assert BANNER in client.get("/audit").get_data(as_text=True)
    private_redis.start()
    page = client.get("/audit").get_data(as_text=True)
    assert BANNER not in page and 'data-health="critical"' not in page


def test_triggering_a_job_is_refused_and_records_no_run(client, redis_down):
    post, _ = redis_down
    before = _counts()
    page = post("/jobs/cache-refresh/trigger").get_data(as_text=True)
    assert "This action needs Redis, which is unreachable at 127.0.0.1:" in page
    assert "nothing was changed" in page
    assert _counts() == before


def test_the_api_trigger_answers_503_and_records_no_run(app, client, redis_down):
    before = _counts()
    csrf = client.get("/").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/api/admin/background-jobs",
        json={"action": "trigger", "jobName": "cache-refresh"},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 503
    assert response.json["success"] is False and "needs Redis" in response.json["error"]
    assert _counts() == before


def test_retry_now_is_refused_and_leaves_the_dead_delivery_dead(client, redis_down):
    post, delivery = redis_down
    before = _counts()
    page = post(f"/retry-queue/{delivery.id}/retry").get_data(as_text=True)
    assert "This action needs Redis" in page
    db.session.expire_all()
    row = db.session.get(Delivery, delivery.id)
    assert (row.status, row.attempts, row.job_id, row.next_attempt_at) == ("dead", 4, None, None)
    assert _counts() == before


def test_cancel_needs_no_redis_it_is_a_database_change(client, redis_down, app):
    post, _ = redis_down
    waiting = pending_delivery("S2", "warning", attempts=1)
    waiting.job_id = "delivery-retry-99-2"
    db.session.commit()
    page = post(f"/retry-queue/{waiting.id}/cancel").get_data(as_text=True)
    assert f"Delivery #{waiting.id} is cancelled." in page
    db.session.expire_all()
    assert db.session.get(Delivery, waiting.id).status == "cancelled"


def test_the_quick_check_is_cached_for_its_seconds(app, redis_down, private_redis):
    assert redis_status.redis_reachable() is False  # probed now (the fixture's 0 s)
    app.config["REDIS_STATUS_SECONDS"] = 3600
    private_redis.start()
    assert redis_status.redis_reachable() is False  # the cached answer: no probe per call
    app.config["REDIS_STATUS_SECONDS"] = 0
    assert redis_status.redis_reachable() is True


def test_a_group_retry_is_refused_whole_and_a_group_cancel_goes_through(client, redis_down):
    post, delivery = redis_down
    before = _counts()
    page = client.get("/retry-queue/group/retry?status=dead").get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    assert fields["count"] == "1"
    refused = client.post("/retry-queue/group/retry", data=fields, follow_redirects=True).get_data(as_text=True)
    assert "This action needs Redis" in refused
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).status == "dead" and _counts() == before
    done = client.post("/retry-queue/group/cancel", data=fields, follow_redirects=True).get_data(as_text=True)
    assert "1 delivery is cancelled." in done
    db.session.expire_all()
    assert db.session.get(Delivery, delivery.id).status == "cancelled"


def test_flask_jobs_trigger_says_redis_is_needed_in_one_line_and_records_no_run(app, private_redis):
    private_redis.kill()
    before = _counts()
    result = app.test_cli_runner().invoke(args=["jobs", "trigger", "cache-refresh"])
    assert result.exit_code == 1
    assert "Error: This action needs Redis, which is unreachable at 127.0.0.1:" in result.output
    assert "Traceback" not in result.output and _counts() == before


def test_a_dari_admin_reads_the_banner_and_the_refusal_in_dari_while_the_api_stays_english(client, redis_down):
    post, _ = redis_down
    post("/language", language="fa")
    page = client.get("/audit").get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in page and 'data-health="critical"' in page
    assert "Redis در 127.0.0.1:" in page and "در دسترس نیست" in page and BANNER not in page
    page = post("/jobs/cache-refresh/trigger").get_data(as_text=True)
    assert "این کار به Redis نیاز دارد که در 127.0.0.1:" in page and "هیچ چیزی تغییر نکرد" in page
    before = _counts()
    csrf = client.get("/").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/api/admin/background-jobs",
        json={"action": "trigger", "jobName": "cache-refresh"},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 503 and "This action needs Redis, which is unreachable at" in response.json["error"]
    assert client.get("/api/admin/background-jobs").get_json()["data"]["systemHealth"] == "critical"
    assert _counts() == before
