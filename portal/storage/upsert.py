"""Dialect-aware bulk INSERT ... ON CONFLICT for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert(session: Session, model):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def upsert(session: Session, model, rows: Sequence[dict], keys: Sequence[str], update_columns: Sequence[str]) -> None:
    """Insert ``rows``; where ``keys`` already exist, update ``update_columns`` instead."""
    if not rows:
        return
    stmt = _insert(session, model)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={col: getattr(stmt.excluded, col) for col in update_columns}
    )
    for start in range(0, len(rows), 1000):
        session.execute(stmt, list(rows[start : start + 1000]))


def insert_ignore(session: Session, model, rows: Sequence[dict], keys: Sequence[str]) -> None:
    """Insert ``rows``, skipping those whose ``keys`` already exist."""
    if not rows:
        return
    stmt = _insert(session, model).on_conflict_do_nothing(index_elements=list(keys))
    for start in range(0, len(rows), 1000):
        session.execute(stmt, list(rows[start : start + 1000]))


def dialect_insert(session: Session, model):
    """Return the dialect's INSERT for ``model`` (it has ``on_conflict_do_nothing``/``_update``)."""
    return _insert(session, model)
