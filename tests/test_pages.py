"""The portal's pages through the test client: what admins and viewers see, actions, flashes, audit."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.clock import utcnow
from portal.extensions import db
from portal.models import AuditLog, Delivery, JobRun, JobState
from tests import factories
from tests.test_admin_api import pending_delivery

PASSWORD = "correct horse battery"
JOB = "cache-refresh"


def _token(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


@pytest.fixture
def signed_in(client):
    """Sign in as a user of the given role; return a function posting forms with the page's CSRF token."""

    def sign_in(role: str = "admin"):
        factories.user(role, role, PASSWORD)
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        client.post("/login", data={"username": role, "password": PASSWORD, "csrf_token": token})
        csrf = _token(client.get("/").get_data(as_text=True))
        return lambda url, **data: client.post(url, data={"csrf_token": csrf, **data}, follow_redirects=True)

    return sign_in


def test_dashboard_shows_health_jobs_queues_workers_and_retry_summary(client, signed_in):
    signed_in("admin")
    pending_delivery("S1", "mahroom", attempts=2)
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'data-health="(healthy|degraded|critical)"', page)
    assert "no RQ worker is alive" in page  # the reason is shown with the status
    assert "*/5 * * * *" in page and "Every 5 minutes" in page
    for queue in ("urgent", "thresholds", "notifications", "maintenance"):
        assert f'data-queue="{queue}"' in page
    assert 'data-retry-total="1"' in page
    assert "Trigger" in page and "Stop" in page


def test_viewer_sees_the_dashboard_without_action_buttons_and_is_refused_when_posting(client, signed_in):
    post = signed_in("viewer")
    page = client.get("/").get_data(as_text=True)
    assert "cache-refresh" in page
    assert "Trigger" not in page and "Stop all" not in page
    response = post(f"/jobs/{JOB}/stop")
    assert response.status_code == 403 and "Not allowed" in response.get_data(as_text=True)
    assert db.session.get(JobState, JOB) is None
    assert post("/retry-queue/clear").status_code == 403


@pytest.mark.parametrize("part", ["health", "jobs", "queues", "retry"])
def test_live_fragments_render_without_the_layout(client, signed_in, part):
    signed_in("viewer")
    response = client.get(f"/live/{part}")
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)


def test_stop_start_and_trigger_from_the_page_say_what_happened_and_are_audited(client, signed_in):
    post = signed_in("admin")
    page = post(f"/jobs/{JOB}/stop").get_data(as_text=True)
    assert f"Stopped {JOB}" in page and db.session.get(JobState, JOB).enabled is False
    page = post(f"/jobs/{JOB}/start").get_data(as_text=True)
    assert f"Started {JOB}" in page
    page = post(f"/jobs/{JOB}/trigger").get_data(as_text=True)
    run = db.session.scalars(select(JobRun)).one()
    assert f"Triggered {JOB}: run #{run.id}" in page
    actions = [(e.action, e.source) for e in db.session.scalars(select(AuditLog).where(AuditLog.action.like("job.%")))]
    assert actions == [("job.stop", "page"), ("job.start", "page"), ("job.trigger", "page")]


def test_action_returns_to_the_page_it_came_from_but_not_elsewhere(client, signed_in):
    post = signed_in("admin")
    assert post(f"/jobs/{JOB}/stop", next=f"/jobs/{JOB}").request.path == f"/jobs/{JOB}"
    assert post(f"/jobs/{JOB}/start", next="https://evil.example/").request.path == "/"


def test_stop_all_and_start_all_from_the_dashboard(client, signed_in):
    post = signed_in("admin")
    assert "Stopped every job." in post("/jobs/all/stop").get_data(as_text=True)
    assert all(not s.enabled for s in db.session.scalars(select(JobState)))
    assert "Started every job." in post("/jobs/all/start").get_data(as_text=True)


def test_unknown_job_is_a_404_page(client, signed_in):
    post = signed_in("admin")
    assert client.get("/jobs/no-such-job").status_code == 404
    assert post("/jobs/no-such-job/trigger").status_code == 404


def test_job_page_shows_run_history_chart_and_tracebacks(client, signed_in):
    signed_in("viewer")
    now = utcnow()
    db.session.add_all(
        [
            JobRun(
                job_name=JOB,
                trigger="schedule",
                status="success",
                queued_at=now,
                finished_at=now,
                duration_ms=1200,
                summary={"students": 3},
            ),
            JobRun(
                job_name=JOB,
                trigger="manual",
                status="error",
                queued_at=now,
                duration_ms=40,
                error="ValueError: boom",
                traceback='Traceback (most recent call last):\n  File "x.py"\nValueError: boom',
            ),
        ]
    )
    db.session.commit()
    page = client.get(f"/jobs/{JOB}").get_data(as_text=True)
    assert page.count('<rect class="bar') == 2 and "bar-ok" in page and "bar-bad" in page
    assert "ValueError: boom" in page and "Traceback (most recent call last)" in page
    assert "&#34;students&#34;: 3" in page or '"students": 3' in page
    fragment = client.get(f"/jobs/{JOB}/live/runs").get_data(as_text=True)
    assert "data-run=" in fragment


def test_job_history_is_paginated(client, signed_in):
    signed_in("viewer")
    db.session.add_all([JobRun(job_name=JOB, trigger="schedule", status="success", duration_ms=i) for i in range(30)])
    db.session.commit()
    first = client.get(f"/jobs/{JOB}").get_data(as_text=True)
    assert "Page 1 of 2" in first and first.count("data-run=") == 25
    assert client.get(f"/jobs/{JOB}?page=2").get_data(as_text=True).count("data-run=") == 5
    assert client.get(f"/jobs/{JOB}?page=zero").status_code == 400


def test_retry_queue_lists_filters_and_shows_dead_deliveries(client, signed_in):
    signed_in("viewer")
    pending_delivery("S1", "warning", attempts=1)
    pending_delivery("S2", "mahroom", attempts=3, channel="webhook")
    dead = pending_delivery("S3", "tasdiq", status="dead")
    dead.last_error = "550 mailbox unavailable"
    db.session.commit()
    page = client.get("/retry-queue/").get_data(as_text=True)
    assert page.count("data-delivery=") == 2
    assert client.get("/retry-queue/?type=mahroom").get_data(as_text=True).count("data-delivery=") == 1
    assert client.get("/retry-queue/?channel=webhook&attempts=3").get_data(as_text=True).count("data-delivery=") == 1
    dead_tab = client.get("/retry-queue/?status=dead").get_data(as_text=True)
    assert dead_tab.count("data-delivery=") == 1 and "550 mailbox unavailable" in dead_tab
    assert client.get("/retry-queue/?type=bogus").status_code == 400


def test_clear_asks_for_confirmation_with_the_count_then_cancels_them(client, signed_in):
    post = signed_in("admin")
    for n in range(3):
        pending_delivery(f"S{n}", attempts=1)
    confirm = client.get("/retry-queue/clear").get_data(as_text=True)
    assert "This cancels 3 pending deliveries" in confirm
    assert {d.status for d in db.session.scalars(select(Delivery))} == {"pending"}
    page = post("/retry-queue/clear").get_data(as_text=True)
    assert "3 pending deliveries cancelled" in page
    db.session.expire_all()
    assert {d.status for d in db.session.scalars(select(Delivery))} == {"cancelled"}
    assert db.session.scalars(select(AuditLog).where(AuditLog.action == "retry_queue.clear")).one().source == "page"


def test_retry_now_and_cancel_one_delivery(client, signed_in):
    post = signed_in("admin")
    dead = pending_delivery("S1", status="dead")
    waiting = pending_delivery("S2", attempts=1)
    assert f"Delivery #{dead.id} will be attempted again now." in post(f"/retry-queue/{dead.id}/retry").get_data(
        as_text=True
    )
    assert f"Delivery #{waiting.id} is cancelled." in post(f"/retry-queue/{waiting.id}/cancel").get_data(as_text=True)
    db.session.expire_all()
    assert (db.session.get(Delivery, dead.id).status, db.session.get(Delivery, waiting.id).status) == (
        "pending",
        "cancelled",
    )
    assert "was not cancelled" in post(f"/retry-queue/{waiting.id}/cancel").get_data(as_text=True)
    assert post("/retry-queue/999999/retry").status_code == 404


def test_notifications_log_filters_and_searches_by_student_number(client, signed_in):
    signed_in("viewer")
    pending_delivery("S100", "warning")
    pending_delivery("S200", "mahroom", channel="webhook")
    assert client.get("/notifications").get_data(as_text=True).count("data-notification=") == 2
    found = client.get("/notifications?q=S200").get_data(as_text=True)
    assert found.count("data-notification=") == 1 and "mahroom for S200" in found
    assert client.get("/notifications?type=warning").get_data(as_text=True).count("data-notification=") == 1
    assert client.get("/notifications?channel=webhook").get_data(as_text=True).count("data-notification=") == 1
    assert client.get("/notifications?q=S9").get_data(as_text=True).count("data-notification=") == 0


def test_at_risk_page_lists_courses_and_the_students_with_open_alerts(client, signed_in):
    from portal.alerts.course_stats import refresh_course_stats

    signed_in("viewer")
    pending_delivery("S1", "mahroom")
    refresh_course_stats()
    db.session.commit()
    page = client.get("/at-risk").get_data(as_text=True)
    assert 'data-course="CS101"' in page
    course = client.get("/at-risk?course=CS101").get_data(as_text=True)
    assert "Students at risk in CS101" in course and "S1" in course and "70.00 %" in course


def test_job_and_retry_actions_from_the_pages_record_the_client_address(client, signed_in):
    client.environ_base["REMOTE_ADDR"] = "203.0.113.7"  # the whole session: it is bound to the address
    post = signed_in("admin")
    dead = pending_delivery("S1", status="dead")
    for url in (f"/jobs/{JOB}/stop", "/jobs/all/start", f"/retry-queue/{dead.id}/retry", "/retry-queue/clear"):
        assert post(url).status_code == 200
    entries = db.session.scalars(select(AuditLog).where(AuditLog.action != "sign_in").order_by(AuditLog.id)).all()
    assert [(e.action, e.source, e.ip) for e in entries] == [
        ("job.stop", "page", "203.0.113.7"),
        ("job.start_all", "page", "203.0.113.7"),
        ("delivery.retry", "page", "203.0.113.7"),
        ("retry_queue.clear", "page", "203.0.113.7"),
    ]
    assert "203.0.113.7" in client.get("/audit?action=job.stop").get_data(as_text=True)


def test_audit_log_lists_actions_newest_first_and_filters(client, signed_in):
    post = signed_in("admin")
    post(f"/jobs/{JOB}/stop")
    page = client.get("/audit").get_data(as_text=True)
    assert page.index("job.stop") < page.index("sign_in")
    assert "job.stop" not in client.get("/audit?action=sign_in").get_data(as_text=True).split("<tbody>")[1]


def test_the_threshold_monitors_dry_run_page_lists_who_would_change_and_writes_nothing(client, signed_in):
    from portal.models import Alert

    post = signed_in("admin")
    course, student = factories.course("CS101"), factories.student("S7")
    factories.attend(student, course, ["absent"] * 3 + ["present"] * 7)
    assert 'action="/jobs/notification-threshold-monitor/dry-run"' in client.get(
        "/jobs/notification-threshold-monitor"
    ).get_data(as_text=True)
    page = post("/jobs/notification-threshold-monitor/dry-run").get_data(as_text=True)
    words = " ".join(page.split())
    assert "Nothing was written or sent. A check now would look at 1 students, open 1 warning (1 of them" in words
    assert "1 mahroom and 0 tasdiq alerts, resolve 0 and queue 1 notifications" in words
    link = r'<a class="student-link" href="/students/(\w+)">\1</a>'  # every student number links to its page
    rows = re.findall(rf"<tr><td>{link}</td><td>(\w+)</td>\s*<td>([\w ()]+)</td><td>([\d.]+)%</td></tr>", page)
    assert sorted(rows) == [("S7", "CS101", "mahroom", "70.00"), ("S7", "CS101", "warning (suppressed)", "70.00")]
    assert db.session.execute(select(Alert)).first() is None
    assert post("/jobs/cache-refresh/dry-run").status_code == 404


def test_the_at_risk_page_says_statistics_are_not_built_yet_when_the_view_is_missing(client, signed_in):
    from sqlalchemy import text

    signed_in("viewer")
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE course_stats"))
    response = client.get("/at-risk")
    assert response.status_code == 200
    assert "Course statistics not built yet" in response.get_data(as_text=True)
    assert "not reachable" not in response.get_data(as_text=True)


def test_a_scan_runs_summary_reads_as_words_and_one_run_is_one_narrow_bar(client, signed_in):
    signed_in("viewer")
    now = utcnow()
    summary = {
        "totalStudentsChecked": 20000,
        "alertsOpened": {"warning": 12, "mahroom": 4, "tasdiq": 2},
        "alertsSuppressed": 3,
        "alertsResolved": 5,
        "notificationsQueued": 15,
        "batches": 4,
        "executionTime": 1930,
        "errors": [],
    }
    monitor = "notification-threshold-monitor"
    db.session.add(
        JobRun(job_name=monitor, trigger="schedule", status="success", queued_at=now, duration_ms=1930, summary=summary)
    )
    db.session.commit()
    page = client.get(f"/jobs/{monitor}").get_data(as_text=True)
    parts = re.findall(r"<li>([^<]+)</li>", page.split('<ul class="summary">')[1].split("</ul>")[0])
    assert parts == [
        "20,000 students checked",
        "opened 12 warning (3 suppressed), 4 mahroom, 2 tasdiq",
        "5 resolved",
        "15 notifications queued",
        "4 batches",
        "took 1.9 s",
    ]
    width = float(re.search(r'<rect class="bar[^"]*"[^>]*width="([\d.]+)"', page).group(1))
    assert width < 20  # one run: a bar of one of the chart's 60 places, not the whole 600 px


def test_the_pages_say_enabled_or_stopped_for_a_job_and_running_now_apart(client, signed_in):
    from portal.periodic import jobs, runs

    signed_in("viewer")
    jobs.stop_job("cache-refresh", actor="ops", source="cli")
    run = runs.start_run("audit-log-archival", "manual")
    assert runs.acquire_execution_lock("audit-log-archival", run.id, 60)
    page = client.get("/live/jobs").get_data(as_text=True)

    def status(name: str) -> str:
        row = page.split(f'data-job="{name}"')[1].split("</tr>")[0]
        cell = row.split('class="job-status">')[1].split("</td>")[0]
        return " ".join(re.findall(r'class="badge[^"]*">([^<]+)<', cell))

    assert status("cache-refresh") == "stopped"
    assert status("materialized-view-refresh") == "enabled"
    assert status("audit-log-archival") == "enabled running now"


def test_the_retry_queue_is_a_grid_of_type_by_attempts_and_the_dashboard_counts_the_dead(client, signed_in):
    from portal.notifications.retry_queue import retry_queue_status

    signed_in("viewer")
    pending_delivery("S1", "warning", attempts=1)
    pending_delivery("S2", "warning", attempts=1)
    pending_delivery("S3", "warning", attempts=3)
    pending_delivery("S4", "mahroom", attempts=2)
    pending_delivery("S5", "tasdiq", attempts=4, status="dead")
    pending_delivery("S6", "mahroom", attempts=0)  # not tried yet: not waiting for a retry
    status = retry_queue_status()
    assert status["grid"] == {"warning": {"1": 2, "3": 1}, "mahroom": {"2": 1}, "tasdiq": {}} and status["dead"] == 1
    page = client.get("/retry-queue/").get_data(as_text=True)
    grid = page.split('class="retry-grid"')[1].split("</table>")[0]
    warning = grid.split('data-kind="warning"')[1].split("</tr>")[0]
    assert re.findall(r'href="([^"]+)">(\d+)</a>', warning) == [
        ("/retry-queue/?type=warning&amp;attempts=1", "2"),
        ("/retry-queue/?type=warning&amp;attempts=3", "1"),
        ("/retry-queue/?type=warning", "3"),
    ]
    assert "Dead (1)" in page
    card = client.get("/live/retry").get_data(as_text=True)
    assert 'data-dead="1"' in card and "1 dead</a>" in card
