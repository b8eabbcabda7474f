"""Logs: one line per event, JSON with LOG_FORMAT=json, and a job's ids on every line it logs."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portal import create_app
from portal.logs import configure_logging, job_log_context, make_handler
from portal.queues import enqueue, get_queue

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("tests.test_logs")


def log_during_a_run(run_id: int) -> str:
    """An RQ job that logs inside and outside a periodic run's context (run by the tests below)."""
    from workers.context import job_context

    with job_context():
        log.info("before the run is known")
        with job_log_context("cache-refresh") as ctx:
            ctx.run_id = run_id
            log.info("refreshing %d summaries", 3)
            try:
                raise ValueError("one bad student\nsecond line")
            except ValueError:
                log.exception("summary failed")
    return "done"


@pytest.fixture
def captured():
    """Every record from the root logger, formatted as JSON lines with the job filter."""
    stream = io.StringIO()
    handler = make_handler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    # Alembic's fileConfig (the session's migrations) disables loggers that existed before it.
    log.disabled = False
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_every_line_logged_in_a_job_carries_its_job_id_run_id_and_name(app, run_jobs, captured):
    job = enqueue("maintenance", "tests.test_logs.log_during_a_run", 42)
    run_jobs(["maintenance"])
    assert get_queue("maintenance").finished_job_registry.get_job_ids() == [job.id]
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    ours = [line for line in lines if line["logger"] == "tests.test_logs"]
    assert [line["message"] for line in ours] == ["before the run is known", "refreshing 3 summaries", "summary failed"]
    assert all(line["job_id"] == job.id for line in ours)
    assert ours[0]["job_name"] == "tests.test_logs.log_during_a_run" and "run_id" not in ours[0]
    assert [(line["job_name"], line["run_id"]) for line in ours[1:]] == [("cache-refresh", 42)] * 2
    assert "ValueError: one bad student" in ours[2]["exception"]


def test_lines_outside_a_job_have_no_job_fields(app, captured):
    log.info("a web request")
    line = json.loads(captured.getvalue())
    assert line["message"] == "a web request" and line["level"] == "INFO"
    assert not {"job_id", "job_name", "run_id"} & line.keys()
    assert line["time"].endswith("Z")


def test_text_format_writes_a_traceback_on_the_same_line():
    stream = io.StringIO()
    handler = make_handler("text", stream)
    record_log = logging.getLogger("tests.text")
    record_log.addHandler(handler)
    record_log.propagate = False
    try:
        with job_log_context("audit-log-archival", 7):
            try:
                raise RuntimeError("disk full")
            except RuntimeError:
                record_log.error("archival failed\nafter 3 chunks", exc_info=True)
    finally:
        record_log.removeHandler(handler)
        record_log.propagate = True
    output = stream.getvalue()
    assert output.count("\n") == 1
    assert "ERROR tests.text [job=audit-log-archival run=7]: archival failed\\nafter 3 chunks" in output
    assert "RuntimeError: disk full" in output


def test_configuring_many_apps_keeps_one_portal_handler_with_the_latest_format(app):
    root = logging.getLogger()
    configure_logging(create_app({"TESTING": True, "LOG_FORMAT": "json"}))
    configure_logging(create_app({"TESTING": True, "LOG_FORMAT": "json"}))
    ours = [h for h in root.handlers if getattr(h, "_portal_handler", False)]
    assert len(ours) == 1 and type(ours[0].formatter).__name__ == "JsonFormatter"
    configure_logging(app)
    assert type(ours[0].formatter).__name__ == "TextFormatter"


def test_a_real_rq_worker_writes_json_lines_with_the_job_ids(tmp_path, sqlite_template, redis_url, app):
    """``rq worker`` as production runs it, with LOG_FORMAT=json: the job's lines are JSON with its ids."""
    database = tmp_path / "worker.db"
    shutil.copyfile(sqlite_template, database)
    job = enqueue("maintenance", "tests.test_logs.log_during_a_run", 7)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret",
        "LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
    }
    rq = Path(sys.executable).with_name("rq")
    finished = subprocess.run(
        [str(rq), "worker", "--burst", "--url", redis_url, "maintenance"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    lines = (finished.stdout + finished.stderr).splitlines()
    job_lines = [json.loads(line) for line in lines if line.startswith("{") and '"tests.test_logs"' in line]
    assert [line["message"] for line in job_lines] == [
        "before the run is known",
        "refreshing 3 summaries",
        "summary failed",
    ]
    assert all(line["job_id"] == job.id for line in job_lines)
    assert [line.get("run_id") for line in job_lines] == [None, 7, 7]
    # Each event once: RQ's own handler does not print the job's lines a second time.
    assert sum("refreshing 3 summaries" in line for line in lines) == 1
