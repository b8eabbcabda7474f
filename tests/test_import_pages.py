"""CSV imports in the browser: upload (streamed to disk, checked at once), the RQ job, its
live progress from Redis, the line-numbered report, and who may do what."""

from __future__ import annotations

import io
import os
import re

import pytest
from sqlalchemy import func, select

from portal.attendance import importing, upload_jobs
from portal.extensions import db
from portal.models import AttendanceRecord, AuditLog, ImportUpload
from portal.queues import MAINTENANCE, get_queue, get_redis
from tests import factories
from tests.test_pages import PASSWORD, _token

HEADER = "student_number,course_code,date,slot,hours,status\n"
GOOD = "".join(f"S1,CS101,2026-10-{day:02d},1,2,present\n" for day in range(1, 9))
BAD_LINE_5 = "S1,CS101,2026-10-04,1,2,sleeping\n"


@pytest.fixture
def app_config(tmp_path):
    return {"UPLOAD_FOLDER": str(tmp_path / "uploads")}


@pytest.fixture
def signed_in(client):
    """Sign in as a user of the given role; return a function posting forms with the CSRF token
    (tests/test_pages.py's fixture, whose name would shadow an import here)."""

    def sign_in(role: str = "admin"):
        factories.user(role, role, PASSWORD)
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        client.post("/login", data={"username": role, "password": PASSWORD, "csrf_token": token})
        csrf = _token(client.get("/").get_data(as_text=True))
        return lambda url, **data: client.post(url, data={"csrf_token": csrf, **data}, follow_redirects=True)

    return sign_in


@pytest.fixture
def people(app):
    factories.student("S1")
    factories.course("CS101")
    db.session.commit()


def _upload(post, text: str, kind: str = "attendance", name: str = "week.csv", skip: bool = False):
    data = {"kind": kind, "file": (io.BytesIO(text.encode()), name)}
    if skip:
        data["skip_invalid"] = "on"
    return post("/imports/", **data)


def _records() -> int:
    return db.session.execute(select(func.count()).select_from(AttendanceRecord)).scalar_one()


def _only_import() -> ImportUpload:
    db.session.expire_all()
    return db.session.execute(select(ImportUpload)).scalar_one()


def _uploads(app) -> list[str]:
    folder = app.config["UPLOAD_FOLDER"]
    return os.listdir(folder) if os.path.isdir(folder) else []


def test_an_upload_is_queued_then_the_job_writes_every_row_and_the_page_says_so(
    app, client, signed_in, people, run_jobs
):
    post = signed_in("admin")
    page = _upload(post, HEADER + GOOD)
    row = _only_import()
    assert page.request.path == f"/imports/{row.id}"
    assert (row.status, row.kind, row.original_filename, row.size_bytes) == (
        "queued",
        "attendance",
        "week.csv",
        len(HEADER + GOOD),
    )
    assert os.path.getsize(row.stored_path) == row.size_bytes  # the whole upload, on disk
    assert get_queue(MAINTENANCE).job_ids == [f"import-{row.id}"]
    run_jobs()
    assert get_queue(MAINTENANCE).count == 0
    row = _only_import()
    assert (row.status, row.rows_read, row.rows_written, row.rows_invalid, row.report) == ("done", 8, 8, 0, None)
    assert _records() == 8
    assert _uploads(app) == []  # the file is deleted once imported
    shown = client.get(f"/imports/{row.id}").get_data(as_text=True)
    assert "8 rows written." in shown and 'data-status="done"' in shown
    actions = db.session.execute(
        select(AuditLog.action, AuditLog.outcome).where(AuditLog.action != "sign_in").order_by(AuditLog.id)
    ).all()
    assert [tuple(a) for a in actions] == [
        ("import.upload", "success"),
        ("attendance.import", "success"),
        ("import.finish", "success"),
    ]


def test_a_bad_row_writes_nothing_and_the_report_names_its_line(app, client, signed_in, people, run_jobs):
    post = signed_in("admin")
    lines = GOOD.splitlines(keepends=True)
    _upload(post, HEADER + "".join(lines[:3]) + BAD_LINE_5 + "".join(lines[4:]))
    run_jobs()
    row = _only_import()
    assert (row.status, row.rows_read, row.rows_written, row.rows_invalid) == ("refused", 8, 0, 1)
    assert row.report == "line 5: status 'sleeping' is not one of present, late, absent, sick, leave"
    assert _records() == 0
    shown = client.get(f"/imports/{row.id}").get_data(as_text=True)
    assert "Nothing was written: 1 row is invalid. Fix it, or upload again with 'skip invalid rows' ticked." in shown
    assert "line 5: status &#39;sleeping&#39; is not one of" in shown
    report = client.get(f"/imports/{row.id}/report.txt")
    assert report.mimetype == "text/plain"
    assert report.get_data(as_text=True) == (
        "week.csv: line 5: status 'sleeping' is not one of present, late, absent, sick, leave\n"
        "week.csv: 1 bad row(s) of 8; nothing was written.\n"
    )


def test_skip_invalid_writes_the_good_rows_and_reports_the_bad(app, client, signed_in, people, run_jobs):
    post = signed_in("admin")
    _upload(
        post,
        HEADER + GOOD + BAD_LINE_5.replace("2026-10-04", "2026-10-20") + "S9,CS101,2026-10-21,1,2,present\n",
        skip=True,
    )
    run_jobs()
    row = _only_import()
    assert (row.status, row.rows_read, row.rows_written, row.rows_invalid) == ("done", 10, 8, 2)
    assert row.report.splitlines()[0] == "line 10: status 'sleeping' is not one of present, late, absent, sick, leave"
    assert row.report.splitlines()[1].startswith("line 11: ")
    assert _records() == 8
    shown = client.get(f"/imports/{row.id}").get_data(as_text=True)
    assert "8 rows written." in shown and "2 invalid rows were skipped (listed below)." in shown


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        (
            "attendance",
            "student_number,course_code,date\nS1,CS101,2026-10-01\n",
            "line 1: missing column(s) slot, hours, status",
        ),
        ("attendance", "", "week.csv is empty"),
        ("grades", HEADER + GOOD, "Unknown kind &#39;grades&#39;"),
    ],
)
def test_a_file_refused_at_once_queues_nothing_and_is_deleted(app, signed_in, people, kind, text, reason):
    post = signed_in("admin")
    page = _upload(post, text, kind=kind)
    assert page.status_code == 400
    assert reason in page.get_data(as_text=True)
    assert db.session.execute(select(func.count()).select_from(ImportUpload)).scalar_one() == 0
    assert get_queue(MAINTENANCE).count == 0
    assert _uploads(app) == []
    refusal = db.session.execute(select(AuditLog).where(AuditLog.action == "import.upload")).scalar_one()
    assert refusal.outcome == "refused" and refusal.details["filename"] == "week.csv"


@pytest.mark.parametrize("app_config", [{"IMPORT_MAX_BYTES": 2048}], indirect=False)
def test_an_upload_over_the_limit_is_413_naming_the_limit_and_stores_nothing(app, signed_in, people, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    post = signed_in("admin")
    page = _upload(post, HEADER + GOOD * 40)
    assert page.status_code == 413
    assert "the file is larger than the 2,048 bytes limit for imports" in page.get_data(as_text=True)
    assert _uploads(app) == []
    assert db.session.execute(select(func.count()).select_from(ImportUpload)).scalar_one() == 0


def test_a_viewer_sees_the_list_without_the_form_and_cannot_upload(app, client, signed_in, people):
    post = signed_in("viewer")
    page = client.get("/imports/").get_data(as_text=True)
    assert "Past imports" in page and 'enctype="multipart/form-data"' not in page
    assert _upload(post, HEADER + GOOD).status_code == 403
    assert _uploads(app) == []


def test_an_upload_without_the_csrf_token_is_refused_and_its_file_deleted(app, client, signed_in, people):
    signed_in("admin")
    answer = client.post("/imports/", data={"kind": "attendance", "file": (io.BytesIO(b"x"), "a.csv")})
    assert answer.status_code == 400
    assert _uploads(app) == []


def test_progress_is_on_the_page_while_the_import_transaction_is_open(app, client, signed_in, people, monkeypatch):
    monkeypatch.setattr(importing, "CHUNK_ROWS", 3)
    post = signed_in("admin")
    _upload(post, HEADER + GOOD)
    row = _only_import()
    seen, statuses = [], []

    def look(result):
        fragment = client.get(f"/imports/{row.id}/live").get_data(as_text=True)
        seen.append(re.search(r"data-progress>([^<]*)<", fragment).group(1).strip())
        statuses.append(re.search(r'data-status="([a-z]+)"', fragment).group(1))

    upload_jobs.run_import(row.id, on_progress=look)
    assert seen[:2] == [
        "3 of about 8 rows checked, 3 written (not yet committed), 0 invalid.",
        "6 of about 8 rows checked, 6 written (not yet committed), 0 invalid.",
    ]
    assert statuses[:2] == ["writing", "writing"]
    assert upload_jobs.read_progress(row.id) == {
        "status": "done",
        "rows_total": 8,
        "rows_read": 8,
        "rows_written": 8,
        "rows_invalid": 0,
    }


def test_an_import_whose_job_failed_is_marked_failed_and_not_left_writing(app, client, signed_in, people, run_jobs):
    post = signed_in("admin")
    _upload(post, HEADER + GOOD)
    row = _only_import()
    os.remove(row.stored_path)  # the job will crash opening it
    run_jobs()
    row = _only_import()
    assert row.status == "failed" and "FileNotFoundError" in row.error
    assert _records() == 0


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 1024}], indirect=False)
def test_the_upload_route_alone_takes_files_over_the_apps_body_limit(app, signed_in, people, tmp_path, run_jobs):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    post = signed_in("admin")
    text = HEADER + "".join(f"S1,CS101,2026-09-01,{slot},0.5,present\n" for slot in range(1, 201))
    assert len(text) > 4 * 1024
    page = post("/imports/", kind="attendance", file=(io.BytesIO(text.encode()), "big.csv"))
    assert page.status_code == 200, page.get_data(as_text=True)[-500:]
    run_jobs()
    assert (_only_import().status, _only_import().rows_written) == ("done", 200)


def test_a_20_mb_upload_is_streamed_to_disk_not_held_in_memory(app, client, signed_in, people, tmp_path):
    """tracemalloc's peak over the request (the test client spools its body to a temporary
    file past 500 KB, so what is counted is the server's side) stays far below the file."""
    import tracemalloc

    post = signed_in("admin")
    source = tmp_path / "big.csv"
    line = "S1,CS101,2026-09-01,1,2,present\n"
    with open(source, "w") as out:
        out.write(HEADER)
        out.write(line * (20 * 1024 * 1024 // len(line)))
    with open(source, "rb") as stream:
        tracemalloc.start()
        page = post("/imports/", kind="attendance", file=(stream, "big.csv"))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert page.status_code == 200
    row = _only_import()
    assert os.path.getsize(row.stored_path) == source.stat().st_size == row.size_bytes
    assert peak < 4 * 1024 * 1024, f"peak {peak:,} bytes for a {row.size_bytes:,}-byte upload"


def test_attendance_written_in_json_documents_on_both_databases_updates_on_reimport(any_app):
    """write_records' upsert (one JSON document per 10,000 records on PostgreSQL): a second
    import of the same (student, course, date, slot) updates it, and the totals stay exact."""
    from decimal import Decimal

    from portal.models import Enrollment

    factories.student("S1")
    factories.course("CS101")
    db.session.commit()
    first = HEADER + "S1,CS101,2026-10-01,1,2,present\nS1,CS101,2026-10-08,1,1.5,absent\n"
    assert importing.import_csv("attendance", io.BytesIO(first.encode())).rows_written == 2
    again = HEADER + "S1,CS101,2026-10-08,1,1.5,sick\nS1,CS101,2026-10-15,1,0.25,absent\n"
    assert importing.import_csv("attendance", io.BytesIO(again.encode())).rows_written == 2
    db.session.expire_all()
    statuses = db.session.execute(
        select(AttendanceRecord.date, AttendanceRecord.status).order_by(AttendanceRecord.date)
    ).all()
    assert [(str(d), s) for d, s in statuses] == [
        ("2026-10-01", "present"),
        ("2026-10-08", "sick"),
        ("2026-10-15", "absent"),
    ]
    enrollment = db.session.execute(select(Enrollment)).scalar_one()
    assert (enrollment.held_hours, enrollment.absent_hours, enrollment.excused_hours) == (
        Decimal("3.75"),
        Decimal("0.25"),
        Decimal("1.50"),
    )


def test_an_import_whose_job_redis_lost_is_marked_failed_when_its_page_is_read(app, client, signed_in, people):
    post = signed_in("admin")
    _upload(post, HEADER + GOOD)
    row = _only_import()
    get_redis().flushall()  # Redis restarted: the queued job is gone, the row still says queued
    page = client.get(f"/imports/{row.id}").get_data(as_text=True)
    assert 'data-status="failed"' in page
    assert "the import job is no longer in Redis (lost before it finished); nothing was written" in page
    row = _only_import()
    assert row.status == "failed" and row.finished_at is not None
    assert _uploads(app) == []


def test_rows_checked_ahead_in_a_thread_come_in_order_raise_here_and_stop_with_the_consumer():
    import threading

    assert list(importing._prefetched(iter(range(50)), depth=2)) == list(range(50))

    def broken():
        yield 1
        raise importing.ImportFileError("line 3: not UTF-8 text (byte 0xFF)")

    with pytest.raises(importing.ImportFileError, match="line 3"):
        list(importing._prefetched(broken()))

    endless = importing._prefetched(iter(range(10**9)), depth=2)
    assert next(endless) == 0
    endless.close()  # the writer failed: the checking thread must end, not fill memory
    assert not [t for t in threading.enumerate() if t.name == "import-checks"]


def test_terms_are_imported_whole_and_skip_invalid_is_refused_for_them(app, client, signed_in, run_jobs):
    post = signed_in("admin")
    terms = "code,name,starts_on,ends_on\n1405-1,Autumn 1405,2026-09-01,2027-01-31\n"
    refused = _upload(post, terms, kind="terms", name="terms.csv", skip=True)
    assert refused.status_code == 400
    assert "&#39;Skip invalid rows&#39; does not apply to terms" in refused.get_data(as_text=True)
    assert _uploads(app) == []
    _upload(post, terms, kind="terms", name="terms.csv")
    run_jobs()
    row = _only_import()
    assert (row.status, row.rows_read, row.rows_written, row.rows_invalid) == ("done", 1, 1, 0)
    report = client.get(f"/imports/{row.id}/report.txt").get_data(as_text=True)
    assert report == "terms.csv: imported 1 terms row(s).\n"
