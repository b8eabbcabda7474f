"""``flask jobs list|status|start|stop|trigger|start-all|stop-all``: the periodic jobs."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from portal.cli.connectivity import needs_database
from portal.cli.operator import cli_actor
from portal.periodic import jobs as job_service
from portal.periodic import pauses


def _job_name(name: str) -> str:
    if name not in job_service.job_names():
        raise click.BadParameter(f"unknown job; known jobs: {', '.join(job_service.job_names())}", param_hint="NAME")
    return name


def _duration(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}s"


@click.group("jobs")
def jobs_group() -> None:
    """Periodic jobs: list, status, start/stop (persisted), trigger a run now."""


@jobs_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON the admin API returns.")
@with_appcontext
@needs_database
def list_jobs(as_json: bool) -> None:
    """Show every periodic job with its status, last and next run."""
    statuses = job_service.list_job_status()
    if as_json:
        click.echo(json.dumps(statuses, indent=2, default=str))
        return
    click.echo(f"{'NAME':32} {'CRON':14} {'STATUS':8} {'EXEC':4} {'LAST RUN':21} {'NEXT RUN':21} {'DURATION':>8}")
    for job in statuses:
        click.echo(
            f"{job['name']:32} {job['schedule']:14} {job['status']:8} {'yes' if job['executing'] else 'no':4} "
            f"{job['lastRun'] or '-':21} {job['nextRun'] or '-':21} {_duration(job['lastDuration']):>8}"
        )
        if job["errorMessage"]:
            click.echo(f"    last error: {job['errorMessage']}")
        if job["pausedAt"]:
            end = f"until {pauses.local_text(job['resumeAt'])}" if job["resumeAt"] else "no end set"
            click.echo(f"    paused by {job['pausedBy']}: {job['pauseReason'] or 'no reason given'}; {end}")
        if job["lastTickMissed"]:
            click.echo("    its latest expected tick has no run")


@jobs_group.command("status")
@click.argument("name")
@with_appcontext
@needs_database
def job_status(name: str) -> None:
    """Show one job's status and its latest runs."""
    status = job_service.job_status(_job_name(name))
    for key in ("name", "description", "schedule", "queue", "enabled", "status", "executing", "lastRun", "nextRun"):
        click.echo(f"{key:13} {status[key]}")
    click.echo(f"{'lastDuration':13} {_duration(status['lastDuration'])}")
    if status["errorMessage"]:
        click.echo(f"{'errorMessage':13} {status['errorMessage']}")
    if status["pausedAt"]:
        click.echo(f"{'pausedBy':13} {status['pausedBy']} at {pauses.local_text(status['pausedAt'])}")
        click.echo(f"{'pauseReason':13} {status['pauseReason'] or '-'}")
        resume = pauses.local_text(status["resumeAt"]) if status["resumeAt"] else "not set: until started again"
        click.echo(f"{'resumeAt':13} {resume}")
    click.echo(f"{'missedTicks':13} {status['missedTicks']}")
    recent = job_service.recent_runs(name, per_page=5)["items"]
    if recent:
        click.echo("recent runs:")
    for run in recent:
        click.echo(
            f"  #{run['id']:<6} {run['trigger']:8} {run['status']:8} {run['queuedAt']} {_duration(run['durationMs']):>8}"
            + (f"  {run['error']}" if run["error"] else "")
        )


@jobs_group.command("start")
@click.argument("name")
@with_appcontext
@needs_database
def start(name: str) -> None:
    """Enable a job and register it with the scheduler (persists across restarts)."""
    status = job_service.start_job(_job_name(name), cli_actor(), "cli")
    click.echo(f"Started {name}: next run {status['nextRun']}.")


def _pause_end(until: str | None, span: str | None):
    try:
        return pauses.resolve_end(until, span)
    except pauses.InvalidPause as exc:
        raise click.BadParameter(str(exc), param_hint="'--until' / '--for'") from None


def _stopped_message(what: str, reason: str | None, resume_at) -> str:
    end = (
        f"until {pauses.local_text(resume_at)}; it starts again by itself then" if resume_at else "until started again"
    )
    return f"Stopped {what} {end}." + (f" Reason: {reason}" if reason else "")


_PAUSE_OPTIONS = (
    click.option(
        "--reason", default=None, help="Why it is stopped (shown on the dashboard, the API and the audit log)."
    ),
    click.option(
        "--until",
        "until",
        default=None,
        help="Start it again at this local time (UNIVERSITY_TIMEZONE): 2026-12-24T06:00.",
    ),
    click.option("--for", "span", default=None, help="Start it again after this long: 3h, 90m, 2d, 1h30m."),
)


def _pause_options(command):
    for option in reversed(_PAUSE_OPTIONS):
        command = option(command)
    return command


@jobs_group.command("stop")
@click.argument("name")
@_pause_options
@with_appcontext
@needs_database
def stop(name: str, reason: str | None, until: str | None, span: str | None) -> None:
    """Disable a job and remove it from the scheduler (persists across restarts), optionally
    with a reason and an end (--until or --for) after which it starts again by itself."""
    name = _job_name(name)
    resume_at = _pause_end(until, span)
    try:
        status = job_service.stop_job(name, cli_actor(), "cli", reason=reason, resume_at=resume_at)
    except pauses.InvalidPause as exc:
        raise click.BadParameter(str(exc), param_hint="'--reason'") from None
    click.echo(_stopped_message(name, status["pauseReason"], resume_at))


@jobs_group.command("trigger")
@click.argument("name")
@with_appcontext
@needs_database
def trigger(name: str) -> None:
    """Queue one run of a job now (recorded with trigger 'manual')."""
    run = job_service.trigger_job(_job_name(name), cli_actor(), "cli")
    click.echo(f"Queued run {run.id} of {name} (RQ job {run.rq_job_id}); see 'flask jobs status {name}'.")


@jobs_group.command("start-all")
@with_appcontext
@needs_database
def start_all() -> None:
    """Enable every job."""
    job_service.start_all(cli_actor(), "cli")
    click.echo(f"Started all {len(job_service.job_names())} jobs.")


@jobs_group.command("stop-all")
@_pause_options
@with_appcontext
@needs_database
def stop_all(reason: str | None, until: str | None, span: str | None) -> None:
    """Disable every job, optionally with a reason and an end (--until or --for)."""
    resume_at = _pause_end(until, span)
    try:
        job_service.stop_all(cli_actor(), "cli", reason=reason, resume_at=resume_at)
    except pauses.InvalidPause as exc:
        raise click.BadParameter(str(exc), param_hint="'--reason'") from None
    click.echo(_stopped_message(f"all {len(job_service.job_names())} jobs", pauses.clean_reason(reason), resume_at))
