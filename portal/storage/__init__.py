"""Dialect-aware SQL helpers (SQLite and PostgreSQL): bulk inserts and upserts."""
