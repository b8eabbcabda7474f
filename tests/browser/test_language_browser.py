"""The portal in Dari in a real browser: the header's switch, a right-to-left page, and no
page that scrolls sideways on a 390 px phone (wide tables scroll inside their .table-wrap)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.adminkit import pending_delivery

PHONE = {"width": 390, "height": 844}
PAGES = [
    "/",
    "/jobs/notification-threshold-monitor",
    "/retry-queue/",
    "/retry-queue/?status=dead",
    "/retry-queue/clear",
    "/notifications",
    "/at-risk",
    "/at-risk?course=CS101",
    "/at-risk?unhandled=1",
    "/alerts",
    "/retry-queue/group/retry",
    "/retry-queue/group/cancel?status=dead",
    "/letters/",
    "/letters/mahroom/fa/student",
    "/audit",
    "/students/S1",
    "/students/?q=S1",
    "/accounts/",
    "/accounts/tokens",
    "/imports/",
    "/no-such-page",
]


def _page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")


def test_switching_to_dari_gives_a_right_to_left_dari_dashboard(page, sign_in, screenshot):
    pending_delivery("S1", "mahroom", attempts=1)
    sign_in("admin")
    page.get_by_role("button", name="دری").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "fa")
    expect(page.get_by_role("heading", name="کارها")).to_be_visible()
    expect(page.get_by_role("link", name="داشبورد")).to_be_visible()
    expect(page.locator("footer")).to_contain_text("به وقت کابل")
    # Right to left: the brand sits at the right end of the header, the nav after it to its left.
    brand = page.locator("header.top .brand").bounding_box()
    nav = page.locator("header.top nav").bounding_box()
    assert brand["x"] > nav["x"]
    # Crons stay left to right inside the Dari page: "0 2 * * *" keeps its 0 at the left.
    cron = page.locator('tr[data-job="audit-log-archival"] code')
    assert cron.evaluate("element => getComputedStyle(element).direction") == "ltr"
    screenshot(page, "portal-dari")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()


def test_no_page_scrolls_sideways_at_390_px_in_english_or_dari(page, sign_in, screenshot):
    alert_id = pending_delivery("S1", "mahroom", attempts=1).notification.alert_id
    sign_in("admin")
    page.set_viewport_size(PHONE)
    for language in ("English", "دری"):
        page.goto("/")
        page.get_by_role("button", name=language).click()
        for path in [*PAGES, f"/cases/{alert_id}/handle?outcome=appeal"]:
            status = page.goto(path).status
            assert status == (404 if path == "/no-such-page" else 200), f"{path} in {language} answered {status}"
            scroll, client = _page_width(page)
            assert scroll <= client, f"{path} in {language} is {scroll} px wide at {client} px"
    page.goto("/retry-queue/")
    screenshot(page, "phone-390")
    page.goto("/jobs/notification-threshold-monitor")
    screenshot(page, "job-dari-phone")
    page.goto("/students/S1#cases")
    expect(page.locator(f'[data-case="{alert_id}"] .case-state')).to_have_text("جدید")
    expect(page.get_by_role("button", name="تأیید دیدن")).to_be_visible()
    screenshot(page, "case-dari-phone")
