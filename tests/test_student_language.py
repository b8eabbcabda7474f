"""A language per student from students.csv: fa, ps or en; empty means the default; anything
else is a line-numbered error that leaves nothing written; a file without the column keeps
the stored languages."""

from __future__ import annotations

import io

from sqlalchemy import select

from portal.attendance.importing import import_csv
from portal.extensions import db
from portal.models import Student


def _import(text: str):
    return import_csv("students", io.BytesIO(text.encode()), actor="test", source="test")


def _languages() -> dict[str, str | None]:
    db.session.expire_all()
    return dict(db.session.execute(select(Student.student_number, Student.language)).all())


def test_students_csv_sets_each_students_language_and_empty_means_the_default(any_app):
    result = _import("student_number,name,language\nS1,Ahmad,fa\nS2,Gul,PS\nS3,Sara,en\nS4,Omid,\n")

    assert result.committed and result.errors == []
    assert _languages() == {"S1": "fa", "S2": "ps", "S3": "en", "S4": None}


def test_an_unknown_language_is_a_line_numbered_error_and_nothing_is_written(app):
    result = _import("student_number,name,language\nS1,Ahmad,fa\nS2,Gul,de\n")

    assert not result.committed
    assert [(e.line, e.reasons) for e in result.errors] == [
        (3, ["language 'de' is not one of fa (Dari), ps (Pashto), en (English) (empty: the default language)"])
    ]
    assert _languages() == {}


def test_a_file_without_the_column_keeps_the_stored_languages_and_one_with_it_changes_them(app):
    _import("student_number,name,language\nS1,Ahmad,ps\nS2,Gul,en\n")

    _import("student_number,name\nS1,Ahmad Haidari\nS2,Gul\n")
    assert _languages() == {"S1": "ps", "S2": "en"}

    _import("student_number,name,language\nS1,Ahmad Haidari,\nS2,Gul,fa\n")
    assert _languages() == {"S1": None, "S2": "fa"}
