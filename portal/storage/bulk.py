"""Bulk INSERT ... RETURNING of many rows, fast on PostgreSQL.

On PostgreSQL the rows travel as one JSON array in one text parameter and are expanded by
``json_to_recordset`` with the table's column types: one short statement whatever the row
count. Two slower ways were measured first (``docs/performance.md``): a multi-row VALUES
statement (SQLAlchemy's executemany) has one parameter per cell and psycopg spends most of
a scan batch parsing it; one array parameter per column (``unnest``) spends it escaping every
element of the arrays' text form. ``json.dumps`` writes the whole document in C. Decimals and
datetimes go as strings and are parsed by the column's own type, so they stay exact.
Other databases (SQLite) get the executemany path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from portal.storage.upsert import dialect_insert, upsert

CHUNK = 10000


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict],
    returning: Sequence[str] = (),
    conflict_index: Sequence[str] | None = None,
    conflict_where: str | None = None,
) -> list:
    """Insert ``rows`` (dicts with the same keys) into ``table``; return the ``returning`` columns.

    With ``conflict_index`` a row whose key exists is skipped (ON CONFLICT DO NOTHING) and
    returns nothing. The order of returned rows is not guaranteed: map them by their keys.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "postgresql":
        stmt = dialect_insert(session, table)
        if conflict_index:
            where = text(conflict_where) if conflict_where else None
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict_index), index_where=where)
        if not returning:
            session.execute(stmt, list(rows))
            return []
        return session.execute(stmt.returning(*(table.c[name] for name in returning)), list(rows)).all()
    sql = _recordset_insert_sql(session, table, list(rows[0]), returning, conflict_index, conflict_where)
    found: list = []
    for start in range(0, len(rows), CHUNK):
        document = json.dumps(rows[start : start + CHUNK], default=_json_scalar, separators=(",", ":"))
        result = session.execute(sql, {"rows": document})
        if returning:
            found.extend(result.all())
    return found


def upsert_rows(
    session: Session, table: Table, rows: Sequence[dict], keys: Sequence[str], update_columns: Sequence[str]
) -> None:
    """Insert ``rows``; where ``keys`` already exist, update ``update_columns`` instead (one
    JSON parameter per CHUNK rows on PostgreSQL; ``upsert`` elsewhere). No two rows may share
    their ``keys`` within a chunk (PostgreSQL refuses to update a row twice in one statement)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        upsert(session, table, rows, keys, update_columns)
        return
    sql = _recordset_insert_sql(session, table, list(rows[0]), (), None, None)
    sets = ", ".join(f"{name} = EXCLUDED.{name}" for name in update_columns)
    sql = text(f"{sql.text} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}")
    for start in range(0, len(rows), CHUNK):
        document = json.dumps(rows[start : start + CHUNK], default=_json_scalar, separators=(",", ":"))
        session.execute(sql, {"rows": document})


def _json_scalar(value):
    if isinstance(value, Decimal):
        return str(value)  # exact: parsed by the numeric column type, never a float
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} in a bulk insert")


def _recordset_insert_sql(session, table, columns, returning, conflict_index, conflict_where):
    dialect = session.get_bind().dialect
    record = ", ".join(f"{name} {table.c[name].type.compile(dialect=dialect)}" for name in columns)
    names = ", ".join(columns)
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM json_to_recordset(CAST(:rows AS json)) AS u({record})"
    )
    if conflict_index:
        sql += f" ON CONFLICT ({', '.join(conflict_index)})"
        if conflict_where:
            sql += f" WHERE {conflict_where}"
        sql += " DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return text(sql)
