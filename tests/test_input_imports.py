"""CSV imports under bad input (property-based): each problem on its line, nothing written.

Complements tests/test_imports.py (examples, streaming) with generated files: undecodable
bytes on any line, arbitrary cells, duplicated rows, and SQL or HTML in the text fields
(stored exactly as given, never executed).
"""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, inspect, select

from portal.attendance import importing
from portal.extensions import db
from portal.models import Course, Student
from tests.test_input_attendance_api import HOSTILE_TEXT, database_snapshot

HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NOT_UTF8 = [b"\xff", b"\xfe\xfe", b"\xc3(", b"\xe9t\xe9", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82"]
# Text as it may appear in a name: anything but NUL (refused on purpose) and lone surrogates.
names = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=200)


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)  # every cell quoted: CR, LF and commas are data
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _import(kind: str, data: bytes, **kwargs) -> importing.ImportResult:
    return importing.import_csv(kind, io.BytesIO(data), **kwargs)


@pytest.fixture
def clean(app):
    """Call between examples: forget the students and courses an accepted file wrote."""

    def reset():
        db.session.rollback()
        db.session.execute(delete(Student))
        db.session.execute(delete(Course))
        db.session.commit()

    return reset


@HYPOTHESIS
@given(
    rows=st.integers(min_value=1, max_value=700),
    data=st.data(),
    bad=st.sampled_from(NOT_UTF8),
    where=st.sampled_from(["name", "number", "end"]),
)
def test_undecodable_bytes_on_any_line_are_refused_naming_that_line(app, rows, data, bad, where):
    bad_row = data.draw(st.integers(min_value=0, max_value=rows - 1), label="bad_row")
    lines = [b"student_number,name"] + [b"S%05d,Student %d" % (i, i) for i in range(rows)]
    number, name = lines[bad_row + 1].split(b",")
    lines[bad_row + 1] = {
        "name": number + b"," + name[:3] + bad + name[3:],
        "number": number + bad + b"," + name,
        "end": number + b"," + name + bad,
    }[where]
    before = database_snapshot()
    with pytest.raises(importing.ImportFileError) as refused:
        _import("students", b"\n".join(lines) + b"\n")
    assert str(refused.value).startswith(f"line {bad_row + 2}: not UTF-8 text (byte 0x")
    assert database_snapshot() == before


def test_an_undecodable_header_is_refused_at_line_1(app):
    with pytest.raises(importing.ImportFileError, match="^line 1: the file is not UTF-8 text"):
        _import("students", b"student_number,n\xe4me\nS1,Ann\n")


@HYPOTHESIS
@given(cells=st.lists(st.lists(st.text(max_size=12) | st.sampled_from(HOSTILE_TEXT), max_size=7), max_size=8))
@example(cells=[["\r", "\r"]])
def test_arbitrary_cells_are_reported_by_line_and_a_refused_file_writes_nothing(app, clean, cells):
    clean()
    data = csv_bytes(["student_number", "name", "email", "guardian_email", "active"], cells)
    before = database_snapshot()
    try:
        result = _import("students", data)
    except importing.ImportFileError as exc:  # e.g. a stray quote the csv module cannot parse
        assert str(exc).startswith("line ")
        assert database_snapshot() == before
        return
    # A lone CR inside a quoted cell is a line break too (the csv module counts it as one).
    last_line = len(data.splitlines()) + 1
    for error in result.errors:
        assert 2 <= error.line <= last_line and error.reasons and all(error.reasons)
    if result.errors:
        assert not result.committed and result.rows_written == 0
        assert database_snapshot() == before
    else:
        assert result.committed
        assert db.session.scalar(select(func.count()).select_from(Student)) == result.rows_written


@HYPOTHESIS
@given(name=names | st.sampled_from(HOSTILE_TEXT[:3]), title=names | st.sampled_from(HOSTILE_TEXT[:3]))
def test_sql_and_html_in_text_fields_are_stored_exactly_as_data(app, clean, name, title):
    assume(name.strip() and title.strip())
    clean()
    result = _import("students", csv_bytes(["student_number", "name"], [["S1", name]]))
    assert result.committed, result.errors
    assert _import("courses", csv_bytes(["code", "title"], [["CS101", title]])).committed
    db.session.expire_all()
    assert db.session.scalar(select(Student.name)) == name.strip()
    assert db.session.scalar(select(Course.title)) == title.strip()
    assert {"students", "courses"} <= set(inspect(db.engine).get_table_names())


@HYPOTHESIS
@given(
    kind=st.sampled_from(["students", "courses"]),
    rows=st.integers(min_value=1, max_value=20),
    data=st.data(),
)
def test_a_duplicated_row_is_refused_naming_both_lines_and_nothing_is_written(app, clean, kind, rows, data):
    clean()
    header = ["student_number", "name"] if kind == "students" else ["code", "title"]
    body = [[f"K{i}", f"Row {i}"] for i in range(rows)]
    original = data.draw(st.integers(min_value=0, max_value=rows - 1), label="original")
    position = data.draw(st.integers(min_value=original + 1, max_value=rows), label="position")
    copy = [body[original][0], data.draw(st.sampled_from([body[original][1], "Changed"]), label="copy_text")]
    body.insert(position, copy)
    before = database_snapshot()
    result = _import(kind, csv_bytes(header, body))
    assert [(e.line, e.reasons) for e in result.errors] == [
        (position + 2, [f"duplicates line {original + 2} (same key)"])
    ]
    assert not result.committed and database_snapshot() == before


def test_a_row_with_more_fields_than_the_header_is_refused_on_its_line(app):
    result = _import("courses", b"code,title\nCS101,Programming\nCS102,Data,Structures\n")
    assert [(e.line, e.reasons) for e in result.errors] == [(3, ["more fields than the header has columns"])]
    assert db.session.scalar(select(func.count()).select_from(Course)) == 0


def test_cli_import_of_a_non_utf8_file_names_the_line_and_writes_nothing(app, runner, tmp_path):
    path = tmp_path / "students.csv"
    path.write_bytes(b"student_number,name\nS1,Ann\nS2,Zahr\xe4\nS3,Cy\n")
    result = runner.invoke(args=["import", "students", str(path)])
    assert result.exit_code == 1
    assert f"{path}: line 3: not UTF-8 text (byte 0xE4); nothing was written." in result.output
    assert "Traceback" not in result.output
    assert db.session.scalar(select(func.count()).select_from(Student)) == 0


def test_cli_import_with_sql_in_a_name_stores_it_and_keeps_the_table(app, runner, tmp_path):
    path = tmp_path / "students.csv"
    path.write_bytes(csv_bytes(["student_number", "name"], [["S1", "'; DROP TABLE students; --"]]))
    result = runner.invoke(args=["import", "students", str(path)])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Student.name)) == "'; DROP TABLE students; --"
