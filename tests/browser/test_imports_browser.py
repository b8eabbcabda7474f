"""An admin imports attendance in the browser: a file with a bad row writes nothing and the
page shows the bad row's line; the same file with 'skip invalid rows' writes the good rows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AttendanceRecord
from tests import factories

CSV = (
    "student_number,course_code,date,slot,hours,status\n"
    "S1,CS101,2026-10-01,1,2,present\n"
    "S1,CS101,2026-10-08,1,2,absent\n"
    "S1,CS101,2026-10-15,1,2,sleeping\n"
    "S1,CS101,2026-10-22,1,2,late\n"
)


@pytest.fixture
def app_config(tmp_path):
    return {"LIVE_REFRESH_SECONDS": 1, "UPLOAD_FOLDER": str(tmp_path / "uploads")}


def _upload(page, skip: bool) -> None:
    page.goto("/imports/")
    page.get_by_label("Kind").select_option("attendance")
    page.get_by_label("CSV file").set_input_files({"name": "week.csv", "mimeType": "text/csv", "buffer": CSV.encode()})
    if skip:
        page.get_by_label("Skip invalid rows").check()
    page.get_by_role("button", name="Upload and import").click()
    expect(page.get_by_role("heading", name="Import of week.csv")).to_be_visible()


def test_admin_sees_the_bad_rows_line_then_imports_the_good_rows_with_skip_invalid(page, sign_in, screenshot, run_jobs):
    factories.student("S1")
    factories.course("CS101")
    db.session.commit()
    sign_in("admin")

    _upload(page, skip=False)
    expect(page.locator(".flash-success")).to_contain_text("week.csv is uploaded; its import is queued.")
    run_jobs()  # the page refreshes its progress part live and shows the outcome
    outcome = page.locator("[data-outcome]")
    expect(outcome).to_contain_text(
        "Nothing was written: 1 row is invalid. Fix it, or upload again with 'skip invalid rows' ticked."
    )
    expect(page.locator("[data-report]")).to_have_text(
        "line 4: status 'sleeping' is not one of present, late, absent, sick, leave\n"
    )
    screenshot(page, "import-report")
    assert db.session.execute(select(func.count()).select_from(AttendanceRecord)).scalar_one() == 0

    _upload(page, skip=True)
    run_jobs()
    expect(outcome).to_contain_text("3 rows written.")
    expect(outcome).to_contain_text("1 invalid row was skipped (listed below).")
    expect(page.locator("[data-report]")).to_contain_text("line 4: status 'sleeping'")
    screenshot(page, "import-skipped")
    db.session.expire_all()
    assert db.session.execute(select(func.count()).select_from(AttendanceRecord)).scalar_one() == 3

    page.goto("/imports/")
    expect(page.locator("tr[data-import]")).to_have_count(2)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
