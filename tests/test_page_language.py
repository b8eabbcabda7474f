"""Each user's page language: the header's switch saves it (audited), the pages follow it
(Dari: lang="fa" dir="rtl"), other users keep theirs, and the API stays English."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, User
from tests import factories
from tests.conftest import ROOT
from tests.test_pages import PASSWORD, _token

DARI_HEADING = "کارها"  # the dashboard's "Jobs"
DARI_FOOTER = "وقت‌ها به وقت کابل است (UTC+04:30)."
CATALOG = ROOT / "portal" / "translations" / "fa" / "LC_MESSAGES" / "messages.po"


def sign_in(client, username: str, role: str = "admin", *, create: bool = True):
    """Sign ``username`` in; return a function posting a form with the page's CSRF token."""
    if create:
        factories.user(username, role, PASSWORD)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    csrf = _token(client.get("/").get_data(as_text=True))
    return lambda url, **data: client.post(url, data={"csrf_token": csrf, **data})


def sign_out(client):
    csrf = _token(client.get("/").get_data(as_text=True))
    client.post("/logout", data={"csrf_token": csrf})


def test_switching_to_dari_gives_an_rtl_dari_page_and_is_audited(client):
    post = sign_in(client, "amina")
    answer = post("/language", language="fa", next="/retry-queue?status=dead")
    assert answer.status_code == 302 and answer.headers["Location"] == "/retry-queue?status=dead"
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in page
    assert f"<h2>{DARI_HEADING}</h2>" in page and DARI_FOOTER in page
    assert "هیچ کارگر RQ زنده نیست" in page  # the health reason (no worker runs in the tests)
    assert "هر روز ساعت 06:30 به وقت کابل (02:00 UTC)" in page  # the archival's cron in Dari words
    assert "زبان شما ذخیره شد" in page  # the flash, in the language just chosen
    assert db.session.scalars(select(User.language).where(User.username == "amina")).one() == "fa"
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "user_language_change")).one()
    assert entry.actor == "amina" and entry.details == {"user": "amina", "from": "en", "to": "fa"}


def test_another_user_still_sees_english_and_the_choice_survives_signing_out(client):
    post = sign_in(client, "amina")
    post("/language", language="fa")
    sign_out(client)
    sign_in(client, "bashir", "viewer")
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page and "<h2>Jobs</h2>" in page
    sign_out(client)
    sign_in(client, "amina", create=False)
    assert '<html lang="fa" dir="rtl">' in client.get("/").get_data(as_text=True)


def test_a_viewer_chooses_their_own_language(client):
    post = sign_in(client, "bashir", "viewer")
    assert post("/language", language="fa").status_code == 302
    assert '<html lang="fa" dir="rtl">' in client.get("/").get_data(as_text=True)


def test_an_unknown_language_is_refused_with_400_and_nothing_is_saved(client):
    post = sign_in(client, "amina")
    answer = post("/language", language="de")
    assert answer.status_code == 400
    assert "Language must be one of en, fa; got &#39;de&#39;. Nothing was changed." in answer.get_data(as_text=True)
    assert db.session.scalars(select(User.language).where(User.username == "amina")).one() == "en"
    assert db.session.scalars(select(AuditLog).where(AuditLog.action == "user_language_change")).all() == []


def test_an_off_site_next_goes_to_the_dashboard_instead(client):
    post = sign_in(client, "amina")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = post("/language", language="en", next=target)
        assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_the_sign_in_page_follows_the_browser_before_sign_in(client):
    dari = client.get("/login", headers={"Accept-Language": "fa-AF,fa;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in dari and "<h1>ورود</h1>" in dari
    english = client.get("/login", headers={"Accept-Language": "de,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in english and "<h1>Sign in</h1>" in english


def test_the_api_answers_stay_english_for_a_dari_user(client):
    post = sign_in(client, "amina")
    post("/language", language="fa")
    answer = client.post(
        "/api/admin/background-jobs",
        json={"action": "fly"},
        headers={"X-CSRFToken": _token(client.get("/").get_data(as_text=True))},
    )
    body = answer.get_json()
    assert answer.status_code == 400 and body["success"] is False
    assert body["error"].isascii() and "action" in body["error"]
    status = client.get("/api/admin/background-jobs").get_json()["data"]
    assert {job["status"] for job in status["jobs"]} <= {"running", "stopped", "error"}


def test_the_dari_catalog_translates_every_marked_string(tmp_path):
    """Every msgid of a fresh extraction (templates and Python, babel.cfg) has a Dari msgstr."""
    from babel.messages.frontend import CommandLineInterface

    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "lazy_gettext", "-k", "N_", "-o", str(pot), str(ROOT)]
    )
    with pot.open("rb") as handle:
        marked = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="fa")
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalog
        if m.id and "fuzzy" not in m.flags and all(m.string if isinstance(m.string, tuple) else [m.string])
    }
    assert len(marked) > 300
    assert sorted(marked - translated) == []


def test_the_switch_without_the_csrf_token_is_refused_and_saves_nothing(client):
    sign_in(client, "amina")
    answer = client.post("/language", data={"language": "fa"})
    assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)
    assert db.session.scalars(select(User.language).where(User.username == "amina")).one() == "en"


def test_a_dari_admin_follows_a_case_in_dari_and_the_outcome_is_still_saved_as_its_key(client):
    """The case pages say states, outcomes and statuses in Dari; the forms still send the keys."""
    from portal.models import AlertCase
    from tests.test_cases import mahroom_student

    alert = mahroom_student()
    post = sign_in(client, "amina")
    post("/language", language="fa")
    confirm = client.get(f"/cases/{alert.id}/handle?outcome=certificate").get_data(as_text=True)
    assert f"هشدار {alert.id} به عنوان رسیدگی‌شده بسته شود؟" in confirm
    assert '<option value="certificate" selected>تصدیق‌نامه رسید</option>' in confirm
    assert "هشدار محروم محصل S1 در CS101" in confirm and "باز می‌ماند" in confirm
    page = post(f"/cases/{alert.id}/handle", outcome="certificate")
    page = client.get(page.headers["Location"]).get_data(as_text=True)
    assert f"هشدار {alert.id} رسیدگی شد: تصدیق‌نامه رسید." in page  # the flash
    assert 'data-case-state="handled">رسیدگی شده: تصدیق‌نامه رسید</span>' in page
    assert "amina آن را رسیدگی‌شده بست: تصدیق‌نامه رسید" in page  # the step
    assert db.session.scalars(select(AlertCase.outcome)).one() == "certificate"
    alerts = client.get("/alerts?status=open").get_data(as_text=True)
    assert '<option value="open" selected>باز</option>' in alerts
    assert '<td data-label="حالت">باز</td>' in alerts and "<th>دوسیه</th>" in alerts
