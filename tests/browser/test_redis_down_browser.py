"""Redis stops under a signed-in admin: the dashboard still renders from the database with the
critical banner, at laptop width and at 390 px; when Redis is back the banner goes by itself.
And this change's other pages at 390 px, right to left: a group action's confirmation and the
threshold monitor's trends chart."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from portal.clock import utcnow
from portal.extensions import db
from portal.models import JobRun
from tests.adminkit import pending_delivery
from tests.faultkit import RedisServer


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server this test owns (never the machine's): killed and started again on its port."""
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def app_config(private_redis):
    return {"LIVE_REFRESH_SECONDS": 1, "REDIS_URL": private_redis.url}


def test_the_dashboard_renders_from_the_database_with_the_critical_banner_while_redis_is_down(
    page, sign_in, screenshot, private_redis
):
    sign_in("admin")
    expect(page.locator("[data-health]")).not_to_have_attribute("data-health", "critical")

    private_redis.kill()
    response = page.goto("/")
    assert response is not None and response.status == 200
    banner = page.locator("#live-health [data-health]")
    expect(banner).to_have_attribute("data-health", "critical")
    expect(banner).to_contain_text(f"Redis is unreachable at 127.0.0.1:{private_redis.port}")
    expect(banner).to_contain_text("background jobs, live refresh and the retry queue's workers are stopped")
    for job in ("notification-threshold-monitor", "cache-refresh", "audit-log-archival"):
        expect(page.locator(f'tr[data-job="{job}"]')).to_be_visible()  # the jobs, from the database
    expect(page.locator("[data-redis-down]")).to_contain_text("Redis is unreachable")
    screenshot(page, "redis-down")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/retry-queue/")
    expect(page.locator("[data-health]")).to_have_attribute("data-health", "critical")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390  # no horizontal scrolling
    screenshot(page, "redis-down-390")

    private_redis.start()
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/")
    # The live part refreshes every second; the quick check's cached answer lasts 2 s.
    expect(page.locator("#live-health [data-health]")).not_to_have_attribute("data-health", "critical", timeout=15_000)
    expect(page.locator("#live-health")).not_to_contain_text(re.compile("Redis is unreachable"))


def test_the_group_confirmation_and_the_trends_chart_fit_390_px_right_to_left(page, sign_in, screenshot):
    for number in ("S1", "S2", "S3"):
        pending_delivery(number, "mahroom", attempts=2)
    db.session.add(
        JobRun(
            job_name="notification-threshold-monitor",
            trigger="cron",
            status="success",
            queued_at=utcnow(),
            duration_ms=900,
            summary={"alertsOpened": {"warning": 3, "mahroom": 1, "tasdiq": 0}, "alertsResolved": 2},
        )
    )
    db.session.commit()
    sign_in("admin")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/retry-queue/?type=mahroom")
    page.get_by_role("link", name="Retry all 3 shown…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Retry now 3 deliveries that match this filter?")
    page.evaluate("document.documentElement.dir = 'rtl'")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    screenshot(page, "retry-group-confirm-390-rtl")
    page.get_by_role("button", name="Yes, retry 3 deliveries now").click()
    expect(page.locator(".flash-success")).to_contain_text("3 deliveries will be attempted again now.")

    page.goto("/jobs/notification-threshold-monitor")
    page.evaluate("document.documentElement.dir = 'rtl'")
    bars = page.locator("svg.trends rect[data-series]")
    expect(bars).to_have_count(3)  # warning and mahroom stacked, resolved beside them
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    screenshot(page, "trends-chart-390-rtl")
