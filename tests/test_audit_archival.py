"""Audit archival moves old entries in chunked transactions; a process killed part-way loses and
duplicates nothing (SIGKILL of a real process, on SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import select

from portal.clock import utcnow
from portal.extensions import db
from portal.models import AuditLog, AuditLogArchive
from portal.operations.archival import archive_audit_log
from tests.conftest import ROOT

# Runs the archival in its own process and blocks at the given point until it is killed.
ARCHIVER = """
import sys
from portal import create_app
from portal.operations.archival import archive_audit_log

database_url, redis_url, stop_at = sys.argv[1:4]
app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "TESTING": True})

def progress(stage, chunk):
    if f"{stage}:{chunk}" == stop_at:
        print("reached", stop_at, flush=True)
        sys.stdin.readline()

with app.app_context():
    archive_audit_log(retention_days=90, chunk_size=10, on_progress=progress)
print("finished", flush=True)
"""


def _entries(old: int, recent: int) -> None:
    now = utcnow()
    for n in range(old):
        db.session.add(
            AuditLog(
                at=now - timedelta(days=100, minutes=n),
                actor=f"user{n}",
                action="job.stop",
                target="cache-refresh",
                details={"n": n},
            )
        )
    for _ in range(recent):
        db.session.add(AuditLog(at=now - timedelta(days=1), actor="recent", action="job.start"))
    db.session.commit()


def _ids() -> tuple[set[int], set[int]]:
    db.session.expire_all()
    return set(db.session.scalars(select(AuditLog.id))), set(db.session.scalars(select(AuditLogArchive.id)))


def _kill_archiver_at(app, stop_at: str) -> None:
    db.session.remove()
    proc = subprocess.Popen(
        [sys.executable, "-c", ARCHIVER, app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"], stop_at],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.strip() == f"reached {stop_at}", proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdin.close()
    proc.stdout.close()
    proc.stderr.close()


def test_archival_killed_between_and_inside_chunks_loses_and_duplicates_nothing(any_app):
    _entries(old=35, recent=5)
    everything, _ = _ids()

    _kill_archiver_at(any_app, "committed:1")  # after the first chunk's commit
    live, archived = _ids()
    assert len(archived) == 10 and live | archived == everything and not live & archived

    _kill_archiver_at(any_app, "copied:2")  # inside the second chunk's transaction: rolled back
    live, archived = _ids()
    assert len(archived) == 20 and live | archived == everything and not live & archived

    result = archive_audit_log(retention_days=90, chunk_size=10)

    live, archived = _ids()
    assert result["archived"] == 15
    assert len(archived) == 35 and len(live) == 5 and live | archived == everything and not live & archived
    assert {a.actor for a in db.session.scalars(select(AuditLog))} == {"recent"}
    sample = db.session.scalars(select(AuditLogArchive).where(AuditLogArchive.actor == "user7")).one()
    assert (sample.action, sample.target, sample.details) == ("job.stop", "cache-refresh", {"n": 7})


def test_a_rerun_after_a_copy_that_was_not_deleted_does_not_duplicate(app):
    _entries(old=3, recent=0)
    entry = db.session.scalars(select(AuditLog)).first()
    # As left by a crash of a run that copied but never deleted (a different transaction boundary).
    db.session.add(
        AuditLogArchive(id=entry.id, at=entry.at, actor=entry.actor, action=entry.action, outcome=entry.outcome)
    )
    db.session.commit()

    result = archive_audit_log(retention_days=90, chunk_size=2)

    live, archived = _ids()
    assert result == {"archived": 3, "chunks": 2, "cutoff": result["cutoff"]}
    assert live == set() and len(archived) == 3
