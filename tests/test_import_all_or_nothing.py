"""An attendance import called as a service (no CLI, no request teardown to roll back for it)
that meets an unknown student after good rows leaves nothing written: not in the file's
transaction, and not in the next one the caller commits in the same session."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from portal.attendance import importing
from portal.extensions import db
from portal.models import AttendanceRecord, Course, Enrollment, Student
from tests import factories

HEADER = "student_number,course_code,date,slot,hours,status\n"
GOOD = [f"S1,CS101,2026-10-{day:02d},1,2,{status}\n" for day, status in ((1, "present"), (2, "absent"), (3, "late"))]
UNKNOWN = "S9,CS101,2026-10-04,1,2,present\n"  # S9 was never imported
WRITTEN = (AttendanceRecord, Enrollment)  # what an attendance import writes


def committed_counts() -> dict[str, int]:
    """Row counts as another connection sees them (only what was committed)."""
    with db.engine.connect() as conn:
        return {
            model.__tablename__: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (AttendanceRecord, Enrollment, Student, Course)
        }


def load(text: str, **kwargs) -> importing.ImportResult:
    return importing.import_csv("attendance", io.BytesIO(text.encode("utf-8")), **kwargs)


@pytest.fixture
def people(any_app):
    factories.student("S1")
    factories.course("CS101")
    db.session.commit()
    return any_app


@pytest.mark.parametrize("chunk_rows", [importing.CHUNK_ROWS, 2], ids=["one-chunk", "written-chunks-first"])
def test_an_unknown_student_after_good_rows_leaves_nothing_written_for_the_next_commit(people, monkeypatch, chunk_rows):
    # Either way the good rows are written (uncommitted) before S9 is found unknown: with the
    # chunk that names S9, or, in chunks of 2 rows, a chunk earlier.
    monkeypatch.setattr(importing, "CHUNK_ROWS", chunk_rows)
    result = load(HEADER + "".join(GOOD) + UNKNOWN)
    assert not result.committed and result.rows_read == 4 and result.rows_written == 0
    assert [(e.line, e.reasons) for e in result.errors] == [(5, ["unknown student 'S9'"])]
    assert result.pairs == set()
    # The import's own session holds nothing of the file...
    in_session = {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in WRITTEN}
    assert in_session == {"attendance_records": 0, "enrollments": 0}
    # ...so the caller's next unit of work in the same session (here a courses import that
    # commits) cannot commit half of the refused file.
    courses = importing.import_csv("courses", io.BytesIO(b"code,title\nMATH110,Calculus\n"))
    assert courses.committed and courses.rows_written == 1
    assert committed_counts() == {"attendance_records": 0, "enrollments": 0, "students": 1, "courses": 2}


def test_the_same_file_with_the_student_known_is_written_whole(people):
    """The control: the rows refused above are good rows; with S9 known they are all written."""
    factories.student("S9", email="s9@uni.example")
    db.session.commit()
    result = load(HEADER + "".join(GOOD) + UNKNOWN)
    assert result.committed and result.rows_written == 4 and result.errors == []
    db.session.remove()
    assert committed_counts() == {"attendance_records": 4, "enrollments": 2, "students": 2, "courses": 1}


def test_skip_invalid_commits_the_good_rows_and_only_those(people):
    result = load(HEADER + "".join(GOOD) + UNKNOWN, skip_invalid=True)
    assert result.committed and result.rows_written == 3 and [e.line for e in result.errors] == [5]
    db.session.remove()
    assert committed_counts() == {"attendance_records": 3, "enrollments": 1, "students": 1, "courses": 1}
