"""The Letters pages: every kind x language x recipient listed, edits saved as versions with a
preview for a real alert (or a sample), history and revert, admins only, audit-logged."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import AuditLog, LetterTemplate
from portal.notifications import templates
from portal.notifications.letters import LetterBook
from tests import factories
from tests.test_pages import _token, signed_in  # noqa: F401 - the signed-in page client fixture

URL = "/letters/mahroom/en/guardian"


def versions() -> list[tuple[int, str | None, str | None]]:
    db.session.expire_all()
    rows = db.session.execute(
        select(LetterTemplate.version, LetterTemplate.subject, LetterTemplate.note).order_by(LetterTemplate.version)
    )
    return [tuple(r) for r in rows]


def test_the_list_shows_all_eighteen_letters_with_their_subjects(client, signed_in):  # noqa: F811
    signed_in("viewer")
    page = client.get("/letters/").get_data(as_text=True)
    assert page.count("data-letter=") == 18
    for key in ("warning/fa/student", "mahroom/ps/guardian", "tasdiq/en/guardian"):
        assert f'data-letter="{key}"' in page
    assert "محرومیت فرزند شما از امتحان نهایی: {course_code} {course_title}" in page


def test_the_editor_previews_a_real_alert_when_one_exists_else_a_sample(client, signed_in):  # noqa: F811
    signed_in("viewer")
    sample = client.get(URL).get_data(as_text=True)
    assert "a sample alert (none of this kind exists yet)" in sample
    assert "Dear parent or guardian of Ahmad Haidari (S000003)," in sample
    crs = factories.course("MATH110", "Calculus")
    stu = factories.student("S7", guardian="family@home.example")
    factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %
    run_threshold_check()
    real = client.get(URL).get_data(as_text=True)
    assert "(S7, MATH110)" in real and "Dear parent or guardian of Student S7 (S7)," in real
    assert "is 50.00%, at or below the limit of 75.00%" in real


def test_the_live_preview_renders_a_draft_and_names_its_problems(client, signed_in):  # noqa: F811
    signed_in("admin")
    csrf = _token(client.get(URL).get_data(as_text=True))
    headers = {"X-CSRFToken": csrf}
    ok = client.post(URL + "/preview", json={"subject": "For {student_name}", "body": "{rate}% now"}, headers=headers)
    assert ok.get_json()["letter"] == {"subject": "For Ahmad Haidari", "body": "70.00% now"}
    bad = client.post(URL + "/preview", json={"subject": "For {name}", "body": "x"}, headers=headers).get_json()
    assert bad["letter"] is None and bad["problems"][0].startswith("subject: unknown placeholder {name}")
    assert versions() == []  # a preview saves nothing


def test_saves_are_versions_and_any_version_or_the_default_comes_back(client, signed_in):  # noqa: F811
    post = signed_in("admin")
    post(URL, subject="First {course_code}", body="One {student_name}")
    post(URL, subject="Second {course_code}", body="Two {student_name}")
    assert [v[:2] for v in versions()] == [(1, "First {course_code}"), (2, "Second {course_code}")]
    page = post(URL + "/revert", version="1").get_data(as_text=True)
    assert "Reverted to version 1, saved as version 3." in page
    assert versions()[-1] == (3, "First {course_code}", "reverted to version 1")
    assert LetterBook.load(db.session).text("mahroom", "guardian", "en")[1].subject == "First {course_code}"
    post(URL + "/revert", version="0")
    assert versions()[-1] == (4, None, "reverted to the shipped default")
    version, text = LetterBook.load(db.session).text("mahroom", "guardian", "en")
    assert version == 4 and text.subject == "Your child is barred from a final exam: {course_code} {course_title}"
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.target == "letter:mahroom/en/guardian"))
    assert list(actions) == ["letter.save", "letter.save", "letter.revert", "letter.revert"]
    history = client.get(URL).get_data(as_text=True)
    assert history.count("data-version=") == 4 and "Bring back version 1" in history


def test_a_viewer_may_look_but_not_save_or_revert(client, signed_in):  # noqa: F811
    post = signed_in("viewer")
    assert post(URL, subject="Mine {course_code}", body="x").status_code == 403
    assert post(URL + "/revert", version="0").status_code == 403
    assert versions() == []


@pytest.mark.parametrize(
    "url, status, named",
    [
        ("/letters/absent/en/student", 404, "kind 'absent' is not one of warning, mahroom, tasdiq"),
        ("/letters/warning/de/student", 404, "language 'de' is not one of fa, ps, en"),
        ("/letters/warning/en/teacher", 404, "recipient 'teacher' is not one of student, guardian"),
    ],
)
def test_an_unknown_letter_is_404_naming_what_is_unknown(client, signed_in, url, status, named):  # noqa: F811
    signed_in("admin")
    response = client.get(url)
    assert response.status_code == status and named in html.unescape(response.get_data(as_text=True))


def test_reverting_to_a_version_that_does_not_exist_is_404_and_writes_nothing(client, signed_in):  # noqa: F811
    post = signed_in("admin")
    response = post(URL + "/revert", version="7")
    assert response.status_code == 404 and "has no version 7" in response.get_data(as_text=True)
    assert post(URL + "/revert", version="x").status_code == 400
    assert versions() == []
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("letter.%"))) == 0


def test_a_subject_on_two_lines_or_too_long_is_refused(app):
    with pytest.raises(templates.LetterRefused, match="the subject must be one line"):
        templates.save("warning", "en", "student", "a\nb", "body", actor="admin")
    with pytest.raises(templates.LetterRefused, match="the subject is 301 characters long; at most 300"):
        templates.save("warning", "en", "student", "x" * 301, "body", actor="admin")
    assert versions() == []
