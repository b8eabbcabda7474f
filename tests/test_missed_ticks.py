"""Ticks missed while no scheduler ran: each job's policy (``once``: one catch-up run, ``skip``: none),
served by a scheduler that starts late (real Redis, real database, time controlled)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal import queues
from portal.extensions import db
from portal.models import AuditLog, JobRun
from portal.periodic import jobs, registry, ticks
from portal.periodic.scheduler import start_scheduler
from tests import factories

DAY = datetime(2026, 11, 20)
ARCHIVAL, CACHE, STATS = "audit-log-archival", "cache-refresh", "materialized-view-refresh"
MONITOR, RETRY = registry.THRESHOLD_MONITOR, registry.RETRY_PROCESSOR


def at(hour: int, minute: int, day: datetime = DAY) -> datetime:
    return day.replace(hour=hour, minute=minute)


def _served_before_the_window() -> None:
    """The history a running system has: the previous ticks of the jobs the loop below does not reach."""
    for name, tick in ((ARCHIVAL, at(2, 0, DAY - timedelta(days=1))), (MONITOR, at(1, 0)), (RETRY, at(1, 45))):
        db.session.add(JobRun(job_name=name, trigger="schedule", status="success", queued_at=tick, tick_at=tick))
    db.session.add(AuditLog(at=DAY - timedelta(days=200), actor="bob", action="job.stop", target="x", source="cli"))
    db.session.commit()


def _rows(name: str) -> list[tuple[datetime, datetime | None, str]]:
    db.session.expire_all()
    query = select(JobRun).where(JobRun.job_name == name, JobRun.tick_at >= at(1, 59)).order_by(JobRun.tick_at)
    return [(run.tick_at, run.covers_from, run.status) for run in db.session.scalars(query)]


@pytest.mark.parametrize("redis_kept", [True, False], ids=["entries-kept", "redis-flushed-meanwhile"])
def test_a_scheduler_stopped_across_0200_and_started_at_0220_catches_up_archival_once_and_not_the_cache(
    any_app, run_jobs, redis_kept
):
    _served_before_the_window()
    with time_machine.travel(at(1, 48), tick=False) as clock:
        before = queues.get_scheduler()
        start_scheduler(before, burst=True)
        for _ in range(10):  # 01:49 .. 01:58: one pass a minute, then the scheduler stops
            clock.shift(timedelta(minutes=1))
            before.enqueue_jobs()
        run_jobs()
        if not redis_kept:
            queues.get_redis().flushdb()

        clock.move_to(at(2, 20))
        after = queues.get_scheduler()
        start_scheduler(after)
        after.enqueue_jobs()
        run_jobs()
        for _ in range(6):  # 02:21 .. 02:26: the loop goes on; nothing is caught up twice
            clock.shift(timedelta(minutes=1))
            after.enqueue_jobs()
        run_jobs()

    assert _rows(ARCHIVAL) == [(at(2, 0), at(2, 0), "success")]  # one catch-up run of the 02:00 tick
    archival = db.session.scalars(select(JobRun).where(JobRun.job_name == ARCHIVAL, JobRun.tick_at == at(2, 0))).one()
    assert archival.summary["archived"] == 1 and archival.trigger == "schedule"
    assert _rows(MONITOR) == [(at(2, 0), at(2, 0), "success")]
    # Cache refresh: 02:00-02:15 skipped in one record, 02:20 on time, 02:25 as usual.
    assert _rows(CACHE) == [
        (at(2, 15), at(2, 0), "skipped"),
        (at(2, 20), None, "success"),
        (at(2, 25), None, "success"),
    ]
    skip = db.session.scalars(select(JobRun).where(JobRun.job_name == CACHE, JobRun.tick_at == at(2, 15))).one()
    assert skip.summary == {
        "reason": "missed ticks skipped",
        "policy": "skip",
        "missedTicks": 4,
        "firstTick": "2026-11-20T02:00:00Z",
        "lastTick": "2026-11-20T02:15:00Z",
    }
    assert _rows(STATS) == [(at(2, 10), at(2, 0), "skipped"), (at(2, 20), None, "success")]
    assert _rows(RETRY) == [(at(2, 15), at(2, 0), "skipped")]  # its start-up pass is a manual run
    assert db.session.scalars(select(JobRun.trigger).where(JobRun.job_name == RETRY, JobRun.tick_at.is_(None))).all()
    ledger = ticks.tick_ledger(registry.get_job(CACHE), now=at(2, 26))
    assert [(row.tick, row.state) for row in ledger["rows"][:8]] == [
        (at(2, 25), "on-time"),
        (at(2, 20), "on-time"),
        (at(2, 15), "skipped"),
        (at(2, 10), "skipped"),  # covered by the one skip record
        (at(2, 5), "skipped"),
        (at(2, 0), "skipped"),
        (at(1, 55), "on-time"),
        (at(1, 50), "on-time"),
    ]


def test_a_job_that_never_served_a_tick_does_not_catch_up_its_history(app):
    with time_machine.travel(at(2, 20), tick=False):
        served = ticks.serve_ticks(registry.get_job(ARCHIVAL))
    assert served == {"runId": None, "tick": None, "catchUpFrom": None, "skipped": 0}
    assert db.session.scalars(select(JobRun)).all() == []


def test_ticks_while_a_job_was_stopped_are_not_caught_up_when_it_starts_again(app, runner):
    _served_before_the_window()
    with time_machine.travel(at(1, 30), tick=False) as clock:
        assert runner.invoke(args=["jobs", "stop", ARCHIVAL]).exit_code == 0
        clock.move_to(at(2, 30))
        assert runner.invoke(args=["jobs", "start", ARCHIVAL]).exit_code == 0
        served = ticks.serve_ticks(registry.get_job(ARCHIVAL))
        flagged = jobs.job_status(ARCHIVAL)["lastTickMissed"]
    assert served["runId"] is None and _rows(ARCHIVAL) == []
    assert flagged is False  # its 02:00 tick came while it was stopped: nothing to flag


def _sign_in(client) -> None:
    factories.user("viewer", "viewer", "correct horse battery")
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "viewer", "password": "correct horse battery", "csrf_token": token})


def _ledger(html: str) -> list[tuple[str, str, str]]:
    """(tick, state, run) of each row of the job page's tick table."""
    rows = re.findall(r'<tr data-tick="([^"]+)" data-state="([^"]+)"[^>]*>(.*?)</tr>', html, re.S)
    return [(tick, state, (re.search(r"#(\d+)", cells) or [None, "-"])[1]) for tick, state, cells in rows]


def test_the_job_page_lists_every_tick_of_7_days_and_the_dashboard_flags_a_missed_last_tick(app, client, run_jobs):
    _served_before_the_window()
    with time_machine.travel(at(1, 58), tick=False) as clock:
        _sign_in(client)
        scheduler = queues.get_scheduler()
        start_scheduler(scheduler, burst=True)
        clock.move_to(at(2, 3))  # the scheduler is down: 02:00 has passed without a run
        down = {job["name"]: job["lastTickMissed"] for job in jobs.list_job_status()}
        dashboard = client.get("/").get_data(as_text=True)
        restarted = queues.get_scheduler()
        start_scheduler(restarted)
        restarted.enqueue_jobs()  # its loop's first pass
        run_jobs()
        up = {job["name"]: job["lastTickMissed"] for job in jobs.list_job_status()}
        archival_page = client.get(f"/jobs/{ARCHIVAL}").get_data(as_text=True)
        cache_page = client.get(f"/jobs/{CACHE}").get_data(as_text=True)

    assert down == {MONITOR: True, RETRY: True, CACHE: True, STATS: True, ARCHIVAL: True}
    assert dashboard.count("missed its last tick") == 5
    assert up == dict.fromkeys(down, False)
    caught_up = db.session.scalars(select(JobRun.id).where(JobRun.job_name == ARCHIVAL, JobRun.tick_at == at(2, 0)))
    served_before = db.session.scalars(select(JobRun.id).where(JobRun.job_name == ARCHIVAL, JobRun.tick_at < at(2, 0)))
    archival = _ledger(archival_page)
    assert archival[:2] == [
        ("2026-11-20T02:00:00", "caught-up", str(caught_up.one())),
        ("2026-11-19T02:00:00", "on-time", str(served_before.one())),
    ]
    assert [state for _, state, _ in archival[2:]] == ["missed"] * 5  # 7 days: nothing served before
    assert 'title="2026-11-20 02:00:00 UTC">2026-11-20 06:30</time>' in archival_page  # the tick in local time
    cache = _ledger(cache_page)
    assert [(tick[11:16], state) for tick, state, _ in cache[:3]] == [
        ("02:00", "skipped"),  # 3 min late at 02:03: missed, and cache refresh does not catch up
        ("01:55", "missed"),  # nothing served it: the scheduler started at 01:58, after its grace
        ("01:50", "missed"),
    ]
    assert len(cache) == 7 * 24 * 12 and re.search(r'data-state="skipped">skipped: 1<', cache_page)


def test_ticks_while_the_job_was_stopped_show_as_paused_in_the_ledger(app, runner):
    with time_machine.travel(at(10, 0, DAY - timedelta(days=3)), tick=False) as clock:
        assert runner.invoke(args=["jobs", "stop", ARCHIVAL, "--reason", "archive disk full"]).exit_code == 0
        clock.move_to(at(10, 0, DAY - timedelta(days=1)))
        assert runner.invoke(args=["jobs", "start", ARCHIVAL]).exit_code == 0
        clock.move_to(at(12, 0))
        rows = jobs.tick_ledger(ARCHIVAL)["rows"]

    assert [(row.tick.day, row.state) for row in rows] == [
        (20, "missed"),
        (19, "paused"),
        (18, "paused"),
        (17, "missed"),
        (16, "missed"),
        (15, "missed"),
        (14, "missed"),
    ]
