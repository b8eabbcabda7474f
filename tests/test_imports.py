"""CSV imports: streamed, validated with line numbers, all-or-nothing unless --skip-invalid."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.attendance import importing
from portal.attendance.saving import totals_mismatches
from portal.extensions import db
from portal.models import AttendanceRecord, Enrollment, Student

STUDENTS = "student_number,name,email,guardian_email,active\nS1,Ahmad Karimi,s1@uni.example,,true\nS2,Zahra Noori,s2@uni.example,g2@family.example,false\n"
COURSES = "code,title\nCS101,Programming\nMATH110,Calculus\n"


def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _load(kind: str, text: str, **kwargs) -> importing.ImportResult:
    return importing.import_csv(kind, io.BytesIO(text.encode("utf-8")), **kwargs)


@pytest.fixture
def people(app):
    _load("students", STUDENTS)
    _load("courses", COURSES)


def test_students_and_courses_import_and_reimport_updates_instead_of_duplicating(app):
    assert _load("students", STUDENTS).rows_written == 2
    _load("students", STUDENTS.replace("Ahmad Karimi", "Ahmad K. Karimi"))
    assert _count(Student) == 2
    assert (
        db.session.execute(select(Student.name).where(Student.student_number == "S1")).scalar_one() == "Ahmad K. Karimi"
    )
    assert db.session.execute(select(Student.active).where(Student.student_number == "S2")).scalar_one() is False


def test_attendance_import_creates_enrollments_and_exact_totals(people):
    csv_text = (
        "student_number,course_code,date,slot,hours,status\n"
        "S1,CS101,2026-10-01,1,2,present\n"
        "S1,CS101,2026-10-08,1,1.5,absent\n"
        "S1,CS101,2026-10-15,1,2,sick\n"
        "S1,CS101,2026-10-15,2,0.25,leave\n"
    )
    result = _load("attendance", csv_text)
    assert result.committed and result.rows_written == 4
    enrollment = db.session.execute(select(Enrollment)).scalar_one()
    assert (enrollment.held_hours, enrollment.absent_hours, enrollment.excused_hours) == (
        Decimal("5.75"),
        Decimal("1.50"),
        Decimal("2.25"),
    )


def test_reimporting_a_session_updates_the_record_and_the_totals(people):
    header = "student_number,course_code,date,slot,hours,status\n"
    _load("attendance", header + "S1,CS101,2026-10-01,1,2,absent\n")
    _load("attendance", header + "S1,CS101,2026-10-01,1,2,present\n")
    assert _count(AttendanceRecord) == 1
    enrollment = db.session.execute(select(Enrollment)).scalar_one()
    assert enrollment.absent_hours == Decimal("0") and enrollment.held_hours == Decimal("2")
    assert totals_mismatches(db.session) == []


def test_a_file_with_bad_rows_writes_nothing_and_names_each_line_and_reason(people):
    csv_text = (
        "student_number,course_code,date,slot,hours,status\n"
        "S1,CS101,2026-10-01,1,2,present\n"  # line 2: fine
        "S9,CS101,2026-10-01,1,2,present\n"  # line 3: unknown student
        "S1,BIO999,2026-10-01,1,2,present\n"  # line 4: unknown course
        "S1,CS101,2026-13-01,1,2,present\n"  # line 5: bad date
        "S1,CS101,2026-10-02,1,0,present\n"  # line 6: hours not positive
        "S1,CS101,2026-10-03,1,1.333,present\n"  # line 7: too many decimals
        "S1,CS101,2026-10-04,1,2,skipped\n"  # line 8: unknown status
        "S1,CS101,2026-10-01,1,2,absent\n"  # line 9: duplicates line 2
    )
    result = _load("attendance", csv_text)
    assert not result.committed
    by_line = {e.line: " ".join(e.reasons) for e in result.errors}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9]
    assert "unknown student 'S9'" in by_line[3]
    assert "unknown course 'BIO999'" in by_line[4]
    assert "not a valid YYYY-MM-DD date" in by_line[5]
    assert "hours must be positive" in by_line[6]
    assert "more than 2 decimal places" in by_line[7]
    assert "not one of" in by_line[8]
    assert "duplicates line 2" in by_line[9]
    assert _count(AttendanceRecord) == 0 and _count(Enrollment) == 0


def test_skip_invalid_keeps_the_good_rows_and_reports_the_bad(people):
    csv_text = "student_number,course_code,date,slot,hours,status\nS1,CS101,2026-10-01,1,2,present\nS9,CS101,2026-10-01,1,2,present\n"
    result = _load("attendance", csv_text, skip_invalid=True)
    assert result.committed and result.rows_written == 1
    assert [e.line for e in result.errors] == [3]
    assert _count(AttendanceRecord) == 1


def test_a_missing_column_rejects_the_whole_file_at_line_1(people):
    with pytest.raises(importing.ImportFileError, match="line 1: missing column.*hours"):
        _load("attendance", "student_number,course_code,date,slot,status\nS1,CS101,2026-10-01,1,present\n")


def test_a_non_utf8_file_is_refused_clearly(people):
    data = (
        b"student_number,course_code,date,slot,hours,status\nS1,CS101,2026-10-01,1,2,present\n"
        + b"S1,\xff\xfe,2026-10-01,1,2,present\n"
    )
    with pytest.raises(importing.ImportFileError, match="not UTF-8"):
        importing.import_csv("attendance", io.BytesIO(data))
    assert _count(AttendanceRecord) == 0


class LazyCsv(io.RawIOBase):
    """A CSV produced row by row as it is read: the whole file never exists in memory."""

    def __init__(self, rows: int, students: int, courses: list[str]):
        self._lines = self._generate(rows, students, courses)
        self._buffer = b""

    @staticmethod
    def _generate(rows, students, courses):
        yield b"student_number,course_code,date,slot,hours,status\n"
        statuses = ["present", "present", "late", "absent", "sick", "present", "leave", "present"]
        for i in range(rows):
            s, rest = divmod(i, len(courses) * 25)
            c, n = divmod(rest, 25)
            yield f"P{s % students:05d},{courses[c]},2026-{9 + n // 28:02d}-{1 + n % 28:02d},1,2,{statuses[(i * 7) % len(statuses)]}\n".encode()

    def readable(self):
        return True

    def readinto(self, b):
        while len(self._buffer) < len(b):
            try:
                self._buffer += next(self._lines)
            except StopIteration:
                break
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def test_a_100k_row_attendance_file_streams_in_and_totals_match_the_records(app):
    courses = [f"C{i}" for i in range(8)]
    students = 500  # 500 students x 8 courses x 25 sessions = 100,000 rows
    _load("students", "student_number,name\n" + "".join(f"P{i:05d},Student {i}\n" for i in range(students)))
    _load("courses", "code,title\n" + "".join(f"{c},Course {c}\n" for c in courses))
    result = importing.import_csv("attendance", io.BufferedReader(LazyCsv(100_000, students, courses)))
    assert result.committed and result.errors == []
    assert result.rows_written == 100_000
    assert _count(AttendanceRecord) == 100_000
    assert _count(Enrollment) == students * len(courses)
    assert totals_mismatches(db.session) == []


def test_the_import_command_reports_bad_lines_and_exits_nonzero_with_nothing_written(runner, people, tmp_path):
    bad = tmp_path / "attendance.csv"
    bad.write_text(
        "student_number,course_code,date,slot,hours,status\nS1,CS101,2026-10-01,1,2,present\nS1,CS101,2026-10-08,1,2,absnt\n"
    )
    result = runner.invoke(args=["import", "attendance", str(bad)])
    assert result.exit_code == 1
    assert "line 3: status 'absnt' is not one of" in result.output
    assert "nothing was written" in result.output
    assert _count(AttendanceRecord) == 0
    result = runner.invoke(args=["import", "attendance", str(bad), "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert "Imported 1 attendance row(s)" in result.output and "skipped 1 bad row(s)" in result.output
    assert _count(AttendanceRecord) == 1


def test_an_import_is_audit_logged_only_when_something_was_written(people):
    from portal.models import AuditLog

    header = "student_number,course_code,date,slot,hours,status\n"
    _load("attendance", header + "S1,CS101,2026-10-01,1,2,present\nS9,CS101,2026-10-01,1,2,present\n")
    assert db.session.execute(select(AuditLog).where(AuditLog.action == "attendance.import")).first() is None
    _load("attendance", header + "S1,CS101,2026-10-01,1,2,present\n")
    entry = db.session.execute(select(AuditLog).where(AuditLog.action == "attendance.import")).scalar_one()
    assert entry.details == {"rowsRead": 1, "rowsWritten": 1, "rowsInvalid": 0}
