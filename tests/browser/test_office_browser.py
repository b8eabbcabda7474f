"""The office's errands in a real browser: find a student from the header, make and revoke an API token."""

from __future__ import annotations

import urllib.error
import urllib.request

from playwright.sync_api import expect
from sqlalchemy import select

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import ApiToken
from tests import factories


def _api_status(base_url: str, token: str) -> int:
    """GET the admin API's job list with ``token`` on the live server (loopback); return the status."""
    request = urllib.request.Request(f"{base_url}/api/admin/background-jobs", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_search_by_name_leads_to_the_students_page_with_their_mahroom_alert(page, sign_in, screenshot):
    crs = factories.course("CS101", "Programming")
    factories.attend(factories.student("S1001"), crs, ["absent"] * 3 + ["present"] * 5)  # 62.5 %: mahroom
    factories.attend(factories.student("S1002"), crs, ["present"] * 8)
    run_threshold_check()
    sign_in("viewer")

    page.get_by_label("Student number or name").fill("student s100")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", name="Find a student")).to_be_visible()
    results = page.get_by_role("link", name="S100")
    expect(results).to_have_count(2)
    screenshot(page, "student-search")

    page.get_by_role("link", name="S1001").click()
    expect(page.get_by_role("heading", name="S1001 · Student S1001")).to_be_visible()
    course = page.locator('tr[data-course="CS101"]')
    expect(course.locator(".hours")).to_have_text("16.00 / 6.00 / 0.00")
    expect(course.locator(".attendance-rate")).to_have_text("62.50 %")
    alerts = page.locator("table.student-alerts tbody tr")
    expect(alerts).to_have_count(2)  # the mahroom alert and the warning it suppressed
    expect(alerts.filter(has_text="suppressed")).to_have_count(1)
    screenshot(page, "student-page")

    page.get_by_label("Student number or name").fill("S1002")  # an exact number opens the page at once
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("heading", name="S1002 · Student S1002")).to_be_visible()
    expect(page.locator("#alerts")).to_contain_text("No alerts.")


def test_an_admin_creates_a_token_sees_it_once_and_revokes_it_after_a_confirmation(page, sign_in, screenshot, live_server):
    sign_in("admin")
    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("link", name="API tokens").click()
    form = page.locator("form", has=page.get_by_role("button", name="Create token"))
    form.get_by_label("Name").fill("attendance-import")
    form.get_by_label("Scope").select_option("admin")
    form.get_by_label("Expires in days").fill("30")
    form.get_by_role("button", name="Create token").click()
    shown = page.locator("[data-token]")
    expect(page.locator(".shown-once")).to_contain_text("Copy it now: it cannot be shown again.")
    token = shown.inner_text().strip()
    assert len(token) >= 32
    screenshot(page, "token-created")
    assert _api_status(live_server, token) == 200

    page.goto("/accounts/tokens")  # shown once: the list never shows the token again
    expect(page.locator("[data-token]")).to_have_count(0)
    assert token not in page.content()
    row = page.locator("tbody tr", has_text="attendance-import")
    row.get_by_role("link", name="Revoke…").click()
    expect(page.get_by_role("heading", name="Revoke token")).to_be_visible()
    screenshot(page, "token-revoke-confirm")
    page.get_by_role("button", name="Yes, revoke token").click()
    expect(page.locator(".flash-success")).to_contain_text("is revoked: it is refused from now on.")
    db.session.expire_all()
    revoked = db.session.execute(select(ApiToken).where(ApiToken.name == "attendance-import")).scalar_one()
    assert revoked.revoked_at is not None
    assert _api_status(live_server, token) == 401
    screenshot(page, "token-revoked")
