"""The follow-up of a mahroom case in a real browser: acknowledge, assign, note, close as handled
(after the confirmation page), and the steps listed on the student's page; no sideways
scrolling on a phone."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Alert, AlertCase, AlertNote
from tests import factories
from tests.test_cases import mahroom_student

# Steps show in the university's time; hovering shows UTC (the local_time filter's title).
UTC_TITLE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


def test_an_admin_follows_a_mahroom_case_up_to_handled(page, sign_in, screenshot):
    alert = mahroom_student("S1")
    factories.user("amina", "viewer")
    sign_in("admin")
    page.goto("/students/S1")
    case = page.locator(f"#alert-{alert.id}")
    expect(case.locator(".case-state")).to_have_text("new")

    case.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Alert {alert.id} is acknowledged.")
    case.get_by_label("Assign to").select_option("amina")
    case.get_by_role("button", name="Assign", exact=True).click()
    expect(case.locator(".case-state")).to_have_text("assigned to amina")
    case.get_by_label("Note").fill("Phoned the guardian: the student will come on Sunday.")
    case.get_by_role("button", name="Add note").click()
    expect(case.locator("[data-step=note]")).to_contain_text("Phoned the guardian")
    screenshot(page, "case-followup")

    case.get_by_label("Outcome").select_option("contacted")
    case.get_by_role("button", name="Close as handled…").click()
    expect(page.get_by_role("heading", name=f"Close alert {alert.id} as handled?")).to_be_visible()
    page.get_by_role("button", name="Yes, close as handled").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Alert {alert.id} is handled: contacted.")
    expect(case.locator(".case-state")).to_have_text("handled: contacted")
    steps = case.locator(".case-steps li")
    expect(steps).to_have_count(4)
    for index, what in enumerate(["acknowledged", "assigned", "note", "handled"]):
        expect(steps.nth(index)).to_have_attribute("data-step", what)
    expect(case.locator("[data-step=handled] time")).to_have_attribute("title", UTC_TITLE)
    expect(page.locator(f'tr[data-alert="{alert.id}"] .case-state')).to_have_text("handled: contacted")
    screenshot(page, "case-handled")

    db.session.expire_all()
    assert db.session.get(AlertCase, alert.id).outcome == "contacted"
    assert db.session.scalars(select(AlertNote.body)).all() == ["Phoned the guardian: the student will come on Sunday."]
    assert db.session.get(Alert, alert.id).status == "open"  # still barred

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/students/S1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto("/at-risk?course=CS101")
    expect(page.locator('tr[data-line="S1:CS101"]')).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
