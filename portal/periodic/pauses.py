"""Pauses of periodic jobs: a stop with an optional reason and an optional end.

A stopped job's ``job_states`` row says who stopped it and when (``updated_by``/``updated_at``),
why (``pause_reason``) and until when (``resume_at``, naive UTC). The scheduler process starts
a job again once its ``resume_at`` has passed (``portal.periodic.jobs.resume_due_jobs``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app

from portal.clock import iso_utc, utcnow
from portal.domain.job_schedule import parse_local_time, parse_span, pause_end
from portal.models import JobState
from portal.models.jobs import PAUSE_REASON_MAX


class InvalidPause(ValueError):
    """A pause's reason or end is malformed; ``str(exc)`` says what is wrong."""


def clean_reason(reason: Any) -> str | None:
    """Return the stripped reason (None when empty); raise InvalidPause when it is not text or too long."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise InvalidPause("reason must be text")
    reason = reason.strip()
    if len(reason) > PAUSE_REASON_MAX:
        raise InvalidPause(f"reason is {len(reason)} characters long; at most {PAUSE_REASON_MAX} are kept")
    return reason or None


def resolve_end(
    until: str | None = None, span: str | None = None, zone: str | None = None, now: datetime | None = None
) -> datetime | None:
    """Return when a pause starting now ends (naive UTC), or None for no end.

    ``until`` is a date and time, read in ``zone`` (default UNIVERSITY_TIMEZONE) unless it has
    an offset or ``Z``; ``span`` a duration (``3h``, ``90m``, ``2d``). Raises InvalidPause when
    either is malformed, both are given, or the end is not in the future.
    """
    zone = zone or current_app.config.get("UNIVERSITY_TIMEZONE", "UTC")
    try:
        moment = parse_local_time(until, zone) if until not in (None, "") else None
        length = parse_span(span) if span not in (None, "") else None
        return pause_end(now or utcnow(), moment, length)
    except ValueError as exc:
        raise InvalidPause(str(exc)) from None


def check_end(resume_at: datetime | None, now: datetime | None = None) -> None:
    """Raise InvalidPause when ``resume_at`` (naive UTC) is given and not in the future."""
    if resume_at is not None and resume_at <= (now or utcnow()):
        raise InvalidPause(f"the pause must end in the future; {iso_utc(resume_at)} has passed")


def pause_info(state: JobState | None, enabled: bool, now: datetime | None = None) -> dict[str, Any]:
    """Return ``{pausedBy, pausedAt, pauseReason, resumeAt, pausedForSeconds}`` of a stopped job
    (every value None for a running one); times ISO 8601 UTC."""
    if enabled or state is None:
        return {"pausedBy": None, "pausedAt": None, "pauseReason": None, "resumeAt": None, "pausedForSeconds": None}
    paused_for = max(timedelta(0), (now or utcnow()) - state.updated_at) if state.updated_at else None
    return {
        "pausedBy": state.updated_by,
        "pausedAt": iso_utc(state.updated_at),
        "pauseReason": state.pause_reason,
        "resumeAt": iso_utc(state.resume_at),
        "pausedForSeconds": int(paused_for.total_seconds()) if paused_for is not None else None,
    }


def local_text(moment: datetime | str | None) -> str:
    """Return a naive UTC time (or an ISO 8601 string) as ``2026-12-24 06:00 Asia/Kabul`` in
    UNIVERSITY_TIMEZONE; '—' when absent."""
    if moment in (None, ""):
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = current_app.config.get("UNIVERSITY_TIMEZONE", "UTC")
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} {zone}"
