"""``flask jobs ...`` commands and the per-student summaries cached in Redis."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.attendance import summary_cache
from portal.attendance.saving import save_attendance
from portal.domain.records import AttendanceInput
from portal.extensions import db
from portal.models import AuditLog, JobRun
from portal.queues import get_redis
from tests import factories


def test_jobs_list_shows_every_job_with_status_and_next_run(runner):
    result = runner.invoke(args=["jobs", "list"])

    assert result.exit_code == 0, result.output
    for name in ("notification-threshold-monitor", "cache-refresh", "audit-log-archival"):
        assert name in result.output
    assert result.output.count("running") == 5


def test_jobs_stop_start_trigger_and_status_from_the_command_line(runner, run_jobs):
    assert runner.invoke(args=["jobs", "stop", "cache-refresh"]).exit_code == 0
    assert "stopped" in runner.invoke(args=["jobs", "status", "cache-refresh"]).output

    started = runner.invoke(args=["jobs", "start", "cache-refresh"])
    triggered = runner.invoke(args=["jobs", "trigger", "cache-refresh"])
    run_jobs()
    status = runner.invoke(args=["jobs", "status", "cache-refresh"])

    assert started.exit_code == 0 and "next run" in started.output
    assert triggered.exit_code == 0 and "Queued run" in triggered.output
    assert "manual" in status.output and "success" in status.output
    assert db.session.scalars(select(JobRun.status)).all() == ["success"]
    actions = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(a.action, a.source, a.ip) for a in actions] == [  # a command has no client address
        ("job.stop", "cli", None),
        ("job.start", "cli", None),
        ("job.trigger", "cli", None),
    ]
    assert actions[0].actor.startswith("cli")


def test_jobs_stop_all_then_start_all(runner):
    assert runner.invoke(args=["jobs", "stop-all"]).exit_code == 0
    assert runner.invoke(args=["jobs", "list"]).output.count("stopped") == 5
    assert runner.invoke(args=["jobs", "start-all"]).exit_code == 0
    assert runner.invoke(args=["jobs", "list"]).output.count("running") == 5


def test_an_unknown_job_name_is_a_clear_error(runner):
    result = runner.invoke(args=["jobs", "trigger", "nope"])

    assert result.exit_code == 2 and "unknown job" in result.output and "cache-refresh" in result.output


def test_cache_refresh_writes_every_active_students_summary(app):
    cs = factories.course()
    s1, s2 = factories.student("S1"), factories.student("S2")
    factories.student("S3", active=False)
    factories.attend(s1, cs, ["present"] * 3 + ["absent"])
    factories.attend(s2, cs, ["present", "sick"])

    assert summary_cache.refresh_summaries(chunk_size=1) == {"students": 2, "chunks": 2}

    redis = get_redis()
    cached = json.loads(redis.get(summary_cache.summary_key(s1.id)))
    assert cached["studentNumber"] == "S1"
    assert cached["courses"] == [
        {
            "courseId": cs.id, "code": "CS101", "title": "Programming", "active": True,
            "held": "8.00", "absent": "2.00", "excused": "0.00", "attendanceRate": "75.00", "presenceRate": "75.00",
        }
    ]  # fmt: skip
    assert json.loads(redis.get(summary_cache.summary_key(s2.id)))["courses"][0]["presenceRate"] == "50.00"
    assert 0 < redis.ttl(summary_cache.summary_key(s1.id)) <= summary_cache.SUMMARY_TTL_SECONDS


def test_saving_attendance_invalidates_the_students_cached_summary(app):
    cs = factories.course()
    s1, s2 = factories.student("S1"), factories.student("S2")
    factories.attend(s1, cs, ["present"])
    factories.attend(s2, cs, ["present"])
    summary_cache.refresh_summaries()

    save_attendance([AttendanceInput("S1", "CS101", date(2026, 10, 1), 1, Decimal("2"), "absent")])

    redis = get_redis()
    assert redis.get(summary_cache.summary_key(s1.id)) is None
    assert redis.get(summary_cache.summary_key(s2.id)) is not None
    assert summary_cache.get_summary(s1.id)["courses"][0]["absent"] == "2.00"  # recomputed on the miss
    assert redis.get(summary_cache.summary_key(s1.id)) is not None


def test_many_summaries_come_from_one_read_with_the_misses_computed_and_cached(app):
    cs = factories.course()
    s1, s2 = factories.student("S1"), factories.student("S2")
    factories.attend(s1, cs, ["present"] * 3 + ["absent"])
    factories.attend(s2, cs, ["present", "sick"])
    redis = get_redis()
    redis.set(summary_cache.summary_key(s1.id), json.dumps({"studentId": s1.id, "courses": [], "cached": True}))

    summaries = summary_cache.get_summaries([s1.id, s2.id, s2.id, 999_999])

    assert sorted(summaries) == [s1.id, s2.id]  # a student that does not exist is left out
    assert summaries[s1.id]["cached"] is True  # a cached summary is taken as it is
    assert summaries[s2.id]["courses"][0]["presenceRate"] == "50.00"  # a miss is computed ...
    assert json.loads(redis.get(summary_cache.summary_key(s2.id))) == summaries[s2.id]  # ... and cached
    assert redis.get(summary_cache.summary_key(999_999)) is None
    assert summary_cache.get_summaries([]) == {}
