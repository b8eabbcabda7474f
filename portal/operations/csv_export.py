"""CSV files for the office's spreadsheets, streamed: UTF-8 with a byte-order mark (so Excel
reads Dari names right), a header row, times as ISO 8601 UTC next to the university's local
time, and every cell that a spreadsheet would run as a formula defused."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from portal.clock import iso_utc
from portal.extensions import db

BOM = "\ufeff"
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP "CSV injection"); a leading apostrophe makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500


def cell(value) -> str:
    """Return ``value`` as CSV text: '' for None, formulas quoted with a leading apostrophe."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class LocalTimes:
    """Format naive UTC times in the university's time zone (``2026-12-06 14:30:00``)."""

    def __init__(self, zone: str):
        self.zone = zone
        self._tz = ZoneInfo(zone)
        # A scan opens a batch's alerts at one time: most rows repeat a time already formatted.
        self._seen: dict[datetime, str] = {}

    def __call__(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        text = self._seen.get(moment)
        if text is None:
            text = self._seen[moment] = f"{moment.replace(tzinfo=UTC).astimezone(self._tz):%Y-%m-%d %H:%M:%S}"
        return text


def utc(moment: datetime | None) -> str:
    """A naive UTC time as ISO 8601 with ``Z``; '' when absent."""
    return iso_utc(moment) or ""


def streamed_rows(statement, chunk: int) -> Iterator:
    """Return an iterator over ``statement``'s rows, fetched ``chunk`` at a time when first read.

    The file is sent after the view has returned and its request and app contexts have
    ended, so the rows are read in a session of their own on the engine taken now; the
    statement (and anything it needed from the app, like today's terms) is built now too.
    """
    engine = db.engine

    def rows():
        with Session(engine) as session:
            yield from session.execute(statement.execution_options(yield_per=chunk))

    return rows()


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """Yield the file in pieces of ``ROWS_PER_CHUNK`` rows: the BOM and header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(header)
    for count, row in enumerate(rows, 1):
        writer.writerow([cell(value) for value in row])
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def attachment_name(what: str, day: date, *parts: str | None) -> str:
    """``at-risk-CS101-2026-12-06.csv``: the list, its filters and the day, in safe characters."""
    words = [what, *(re.sub(r"[^A-Za-z0-9_-]+", "_", part) for part in parts if part), day.isoformat()]
    return "-".join(words) + ".csv"
