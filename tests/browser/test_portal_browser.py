"""The portal in a real browser: sign in, steer jobs, watch live updates, clear the retry queue, sign out."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Delivery, JobRun, JobState
from tests.test_admin_api import pending_delivery

JOB = "cache-refresh"


def test_admin_stops_starts_and_triggers_a_job_and_watches_the_run_appear_live(page, sign_in, screenshot, run_jobs):
    sign_in("admin")
    expect(page.locator("[data-health]")).to_be_visible()
    row = page.locator(f'tr[data-job="{JOB}"]')
    expect(row.locator(".job-status")).to_contain_text("enabled")
    screenshot(page, "dashboard")

    row.locator("summary", has_text="Stop").click()  # the Stop form: a reason and an optional end
    row.get_by_label("Reason").fill("Redis upgrade")
    row.get_by_label("or for").fill("3h")
    row.get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text(f"Stopped {JOB} until")
    expect(row.locator(".job-status")).to_contain_text("stopped")
    expect(row.locator(".pause-note")).to_contain_text("stopped by admin: Redis upgrade")
    assert db.session.get(JobState, JOB).enabled is False
    assert db.session.get(JobState, JOB).pause_reason == "Redis upgrade"

    row.get_by_role("button", name="Start").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Started {JOB}")
    expect(row.locator(".job-status")).to_contain_text("enabled")

    row.get_by_role("button", name="Trigger").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Triggered {JOB}")
    expect(row.locator(".job-outcome")).to_contain_text("queued")
    page.evaluate("window.__sameDocument = true")
    run_jobs()
    expect(row.locator(".job-outcome")).to_contain_text("success")
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
    db.session.expire_all()
    assert db.session.scalars(select(JobRun.status)).all() == ["success"]
    screenshot(page, "dashboard-after-run")

    row.get_by_role("link", name=JOB).click()
    expect(page.locator(".chart rect.bar-ok")).to_have_count(1)
    expect(page.locator("tr[data-run] .run-outcome")).to_contain_text("success")
    screenshot(page, "job")

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator(".flash-success")).to_contain_text("Signed out.")
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "sign-in")


def test_admin_clears_the_retry_queue_after_a_confirmation_that_says_how_many(page, sign_in, screenshot):
    for n in range(3):
        pending_delivery(f"S{n}", "warning" if n else "mahroom", attempts=n + 1)
    dead = pending_delivery("S9", "tasdiq", status="dead")
    dead.last_error = "smtp: 450 try again later"
    db.session.commit()
    sign_in("admin")
    expect(page.locator("[data-retry-total]")).to_contain_text("3 pending")
    page.get_by_role("link", name="Retry queue", exact=True).click()
    expect(page.locator("tr[data-delivery]")).to_have_count(3)
    screenshot(page, "retry-queue")
    page.get_by_role("link", name="Dead").click()
    expect(page.locator("tr[data-delivery]")).to_contain_text("450 try again later")
    screenshot(page, "retry-queue-dead")

    page.get_by_role("link", name="Pending (3)").click()
    page.get_by_role("link", name="Clear all…").click()
    expect(page.locator(".confirm-text")).to_contain_text("This cancels 3 pending deliveries")
    screenshot(page, "retry-queue-clear-confirm")
    page.get_by_role("button", name="Yes, cancel 3 deliveries").click()
    expect(page.locator(".flash-success")).to_contain_text("3 pending deliveries cancelled")
    expect(page.locator("tr[data-delivery]")).to_have_count(0)
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Delivery.status))) == ["cancelled"] * 3 + ["dead"]


def test_viewer_sees_no_action_buttons_and_is_refused_when_posting(page, sign_in, screenshot):
    pending_delivery("S1", attempts=1)
    sign_in("viewer")
    expect(page.locator(f'tr[data-job="{JOB}"]')).to_be_visible()
    expect(page.get_by_role("button", name="Trigger")).to_have_count(0)
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    screenshot(page, "dashboard-viewer")
    statuses = page.evaluate(
        """async (job) => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const form = new URLSearchParams({csrf_token: token});
            const page = await fetch(`/jobs/${job}/stop`, {method: 'POST', body: form});
            const api = await fetch('/api/admin/background-jobs', {
                method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRFToken': token},
                body: JSON.stringify({action: 'stop', jobName: job})});
            return [page.status, api.status];
        }""",
        JOB,
    )
    assert statuses == [403, 403]
    assert db.session.get(JobState, JOB) is None
    page.goto("/retry-queue/")
    expect(page.locator("tr[data-delivery]")).to_have_count(1)
    expect(page.get_by_role("button", name="Retry now")).to_have_count(0)
    expect(page.get_by_role("link", name="Clear all…")).to_have_count(0)


def test_every_page_renders_in_the_layout_on_a_laptop_and_a_phone(page, sign_in, screenshot):
    pending_delivery("S1", "mahroom", attempts=1)
    sign_in("admin")
    for path, name in [("/notifications", "notifications"), ("/at-risk?course=CS101", "at-risk"), ("/audit", "audit")]:
        page.goto(path)
        expect(page.locator("header.top nav")).to_be_visible()
        screenshot(page, name)
    response = page.goto("/no-such-page")
    assert response.status == 404
    expect(page.get_by_role("heading", name="404 · Not found")).to_be_visible()
    screenshot(page, "error-404")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    expect(page.locator(f'tr[data-job="{JOB}"]')).to_be_visible()
    screenshot(page, "dashboard-phone")
