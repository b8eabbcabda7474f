"""Bulk INSERT ... RETURNING of many rows, fast on PostgreSQL.

On PostgreSQL the rows travel as one array per column and are expanded by ``unnest``: one
short statement whatever the row count. A multi-row VALUES statement (what SQLAlchemy's
executemany renders) has one parameter per cell, and psycopg spends most of a large scan
batch parsing those statements. Other databases (SQLite) get the executemany path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import JSON, Table, text
from sqlalchemy.orm import Session

from portal.services.upsert import dialect_insert

CHUNK = 5000


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
    found: list = []
    for start in range(0, len(rows), CHUNK):
        found.extend(
            _unnest_insert(session, table, rows[start : start + CHUNK], returning, conflict_index, conflict_where)
        )
    return found


def _unnest_insert(session, table, rows, returning, conflict_index, conflict_where) -> list:
    dialect = session.get_bind().dialect
    columns = list(rows[0])
    arrays, selects, params = [], [], {}
    for n, name in enumerate(columns):
        column_type = table.c[name].type
        is_json = isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON)
        values = [row[name] for row in rows]
        if is_json:
            arrays.append(f"CAST(:p{n} AS text[])")
            selects.append(f"CAST(u.c{n} AS {column_type.compile(dialect=dialect)})")
            values = [None if v is None else json.dumps(v) for v in values]
        else:
            arrays.append(f"CAST(:p{n} AS {column_type.compile(dialect=dialect)}[])")
            selects.append(f"u.c{n}")
        params[f"p{n}"] = values
    aliases = ", ".join(f"c{n}" for n in range(len(columns)))
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(selects)} "
        f"FROM unnest({', '.join(arrays)}) AS u({aliases})"
    )
    if conflict_index:
        sql += f" ON CONFLICT ({', '.join(conflict_index)})"
        if conflict_where:
            sql += f" WHERE {conflict_where}"
        sql += " DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
        return session.execute(text(sql), params).all()
    session.execute(text(sql), params)
    return []
