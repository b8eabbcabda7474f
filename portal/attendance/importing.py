"""CSV imports of students, courses and attendance: streamed, validated, all-or-nothing.

A file is read row by row and written in chunks inside one transaction; when any row is bad
the transaction is rolled back (nothing written) unless ``skip_invalid`` is set, in which case
the good rows are kept and the bad ones reported.
"""

from __future__ import annotations

import csv
import io
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from sqlalchemy import select

from portal import audit
from portal.alerts.closing import close_alerts_of_inactive
from portal.attendance import saving
from portal.attendance.terms import TermCalendar, terms_in_progress
from portal.clock import utcnow
from portal.domain.batches import KINDS, REQUIRED_COLUMNS, RowChecker
from portal.domain.records import missing_fields
from portal.extensions import db
from portal.models import Course, Student
from portal.storage.upsert import upsert

CHUNK_ROWS = 2000


@dataclass
class RowError:
    line: int
    reasons: list[str]

    def __str__(self) -> str:
        return f"line {self.line}: {'; '.join(self.reasons)}"


@dataclass
class ImportResult:
    kind: str
    rows_read: int = 0
    rows_written: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False
    pairs: set = field(default_factory=set)
    records_moved: int = 0  # terms: records moved from the open-ended term into the imported terms
    alerts_closed: int = 0  # students: open alerts closed because their student became inactive

    @property
    def rows_invalid(self) -> int:
        return len(self.errors)


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (not UTF-8, no header, missing columns)."""


# Undecodable bytes, kept by the ``surrogateescape`` error handler so they are found row by
# row and reported on their own line (a strict decoder fails a whole 8 KiB read ahead of it).
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _not_utf8(values) -> str | None:
    """Return the first undecodable byte among ``values`` (as ``0xFF``), or None."""
    for value in values:
        for text in value if isinstance(value, list) else (value,):
            match = _UNDECODABLE.search(text) if isinstance(text, str) else None
            if match:
                return f"0x{ord(match.group()) - 0xDC00:02X}"
    return None


def _rows(stream: IO[bytes], required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.DictReader(text)
    header = reader.fieldnames
    if not header:
        raise ImportFileError("line 1: the file is empty (expected a header row)")
    bad_byte = _not_utf8(header)
    if bad_byte:
        raise ImportFileError(f"line 1: the file is not UTF-8 text (byte {bad_byte})")
    reader.fieldnames = [h.strip() for h in header]
    missing = missing_fields(reader.fieldnames, required)
    if missing:
        raise ImportFileError(f"line 1: missing column(s) {', '.join(missing)}; expected {','.join(required)}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(f"line {reader.line_num}: {exc}") from None
        bad_byte = _not_utf8(row.values())
        if bad_byte:
            raise ImportFileError(f"line {reader.line_num}: not UTF-8 text (byte {bad_byte})")
        if None in row:
            yield reader.line_num, {"__extra__": row.pop(None), **row}
        else:
            yield reader.line_num, row


def import_csv(
    kind: str,
    stream: IO[bytes],
    *,
    skip_invalid: bool = False,
    progress: Callable[[ImportResult], None] | None = None,
    actor: str = "system",
    source: str = "cli",
) -> ImportResult:
    """Import one CSV file of ``kind`` (students, courses or attendance); return what happened.

    Raises ImportFileError when the file as a whole is unreadable; row problems are reported
    in the result with their line numbers. Nothing is written when a row is bad, unless
    ``skip_invalid``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}; expected one of {', '.join(KINDS)}")
    result = ImportResult(kind)
    session = db.session
    try:
        _check_and_write(stream, result, skip_invalid=skip_invalid, progress=progress)
        if result.errors and not skip_invalid:
            session.rollback()
            result.rows_written = 0
            result.pairs = set()
            result.alerts_closed = 0
            return result
        audit.record(
            actor,
            f"{kind}.import",
            f"{result.rows_written} row(s)",
            outcome="success" if not result.errors else "partial",
            details={
                "rowsRead": result.rows_read,
                "rowsWritten": result.rows_written,
                "rowsInvalid": result.rows_invalid,
                **({"alertsClosed": result.alerts_closed} if result.alerts_closed else {}),
            },
            source=source,
        )
        session.commit()
        result.committed = True
    except BaseException:
        session.rollback()
        raise
    if progress:
        progress(result)
    if result.pairs:
        saving.after_attendance_saved(result.pairs)
    return result


def _check_and_write(
    stream: IO[bytes],
    result: ImportResult,
    *,
    skip_invalid: bool,
    progress: Callable[[ImportResult], None] | None,
) -> None:
    """Check every row and write the good ones in chunks (uncommitted); once a row is bad
    and ``skip_invalid`` is off, later chunks are only checked.

    The rows are read and checked a few chunks ahead in a thread of their own (pure Python,
    no database) while this thread writes: the database's time and the checks' overlap.
    Each chunk's counts and errors are added here, in file order, before it is written, so
    what is written and reported is what a single thread would do.
    """
    kind = result.kind
    checker = RowChecker(kind, latest=saving.latest_allowed_date() if kind == "attendance" else None)
    writer = {"students": _write_students, "courses": _write_courses, "attendance": _write_attendance}[kind]
    session = db.session
    for chunk, errors, read, full in _prefetched(_checked_chunks(stream, kind, checker)):
        result.rows_read += read
        result.errors.extend(errors)
        writer(session, chunk, result, write=skip_invalid or not result.errors)
        if full and progress:
            progress(result)


def _checked_chunks(stream: IO[bytes], kind: str, checker: RowChecker) -> Iterator[tuple[list, list, int, bool]]:
    """Yield ``(good rows, bad rows' errors, rows read, full)`` per CHUNK_ROWS good rows, and
    the rest last (``full`` False)."""
    chunk: list[tuple[int, object]] = []
    errors: list[RowError] = []
    read = 0
    for line, row in _rows(stream, REQUIRED_COLUMNS[kind]):
        read += 1
        if "__extra__" in row:
            errors.append(RowError(line, ["more fields than the header has columns"]))
            continue
        value, reasons = checker.check(row, line)
        if reasons:
            errors.append(RowError(line, reasons))
            continue
        chunk.append((line, value))
        if len(chunk) >= CHUNK_ROWS:
            yield chunk, errors, read, True
            chunk, errors, read = [], [], 0
    yield chunk, errors, read, False


_DONE = object()


def _prefetched(items: Iterator, depth: int = 3) -> Iterator:
    """Yield what ``items`` yields, computed up to ``depth`` items ahead in a thread; its
    exception is raised here. Stopping early (an exception while writing) stops the thread."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                ahead.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, raised there
            put((_DONE, exc))

    thread = threading.Thread(target=produce, name="import-checks", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = ahead.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _write_students(session, chunk, result: ImportResult, *, write: bool) -> None:
    if not write or not chunk:
        return
    # A file without a language column leaves every stored language as it is.
    with_language = any(s.language is not None for _, s in chunk)
    columns = ["name", "email", "guardian_email", "active"] + (["language"] if with_language else [])
    rows = []
    for _, s in chunk:
        row = {
            "student_number": s.student_number,
            "name": s.name,
            "email": s.email,
            "guardian_email": s.guardian_email,
            "active": s.active,
        }
        if with_language:
            row["language"] = s.language or None
        rows.append(row)
    upsert(session, Student, rows, ["student_number"], columns)
    result.rows_written += len(chunk)
    leaving = [s.student_number for _, s in chunk if not s.active]
    if leaving:
        ids = session.scalars(select(Student.id).where(Student.student_number.in_(leaving))).all()
        result.alerts_closed += close_alerts_of_inactive(session, ids, terms_in_progress(session), utcnow())


def _write_courses(session, chunk, result: ImportResult, *, write: bool) -> None:
    if not write or not chunk:
        return
    upsert(session, Course, [{"code": c.code, "title": c.title} for _, c in chunk], ["code"], ["title"])
    result.rows_written += len(chunk)


def _write_attendance(session, chunk, result: ImportResult, *, write: bool) -> None:
    if not chunk:
        return
    calendar = TermCalendar.load(session)
    rows, problems = saving.match_records(session, chunk, calendar)
    result.errors.extend(RowError(line, reasons) for line, reasons in problems)
    if write:
        result.pairs |= saving.write_records(session, rows, calendar)
        result.rows_written += len(rows)
