"""Prometheus metrics, computed at scrape time from the database and Redis.

The web app runs as several processes on several machines and the work happens in other
processes (RQ workers), so nothing is counted in process memory: every scrape asks the source
of truth. The queries are a handful of ``GROUP BY`` aggregates over indexed columns, one round
trip each, and Redis answers with a few O(1) calls per queue and one per worker.

A part that cannot be reached is reported as ``portal_database_up 0`` / ``portal_redis_up 0``
and its metrics are left out; the scrape itself still succeeds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator

from flask import Flask
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from portal import queues
from portal.extensions import db
from portal.models import Alert, Delivery, JobRun

log = logging.getLogger(__name__)

PREFIX = "portal"
# Run durations in seconds: periodic jobs take from milliseconds (cache refresh on a small
# term) to many minutes (a full scan of a large university).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
FINISHED = ("success", "error", "skipped")
IN_FLIGHT = ("queued", "running")


class PortalCollector(Collector):
    """Collects every portal metric for one app; registered on that app's own registry."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families (runs in a fresh app context, so any caller may scrape)."""
        started = time.perf_counter()
        with self._app.app_context():
            yield from _database_metrics()
            yield from _redis_metrics()
        elapsed = GaugeMetricFamily(f"{PREFIX}_metrics_collect_seconds", "Time taken to compute this scrape.")
        elapsed.add_metric([], time.perf_counter() - started)
        yield elapsed


def metrics_registry(app: Flask) -> CollectorRegistry:
    """Return ``app``'s registry (created on first use): the portal collector only, no process globals."""
    registry = app.extensions.get("metrics_registry")
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(PortalCollector(app))
        app.extensions["metrics_registry"] = registry
    return registry


def render_metrics(app: Flask) -> bytes:
    """Return the Prometheus text exposition of ``app``'s metrics."""
    return generate_latest(metrics_registry(app))


# --- the database ------------------------------------------------------------------------


def _database_metrics() -> Iterator[Metric]:
    up = GaugeMetricFamily(f"{PREFIX}_database_up", "1 when the database answered this scrape's queries.")
    try:
        families = list(_job_run_metrics()) + list(_alert_metrics()) + list(_delivery_metrics())
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("metrics: database unavailable: %s", getattr(exc, "orig", exc))
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    yield from families


def _job_run_metrics() -> Iterable[Metric]:
    runs = CounterMetricFamily(
        f"{PREFIX}_job_runs",
        "Finished periodic job runs by job and outcome (success, error, skipped).",
        labels=["job", "outcome"],
    )
    in_flight = GaugeMetricFamily(
        f"{PREFIX}_job_runs_in_flight", "Periodic job runs queued or running now.", labels=["job", "status"]
    )
    counts = db.session.execute(
        select(JobRun.job_name, JobRun.status, func.count()).group_by(JobRun.job_name, JobRun.status)
    )
    for job, status, count in counts:
        if status in FINISHED:
            runs.add_metric([job, status], count)
        elif status in IN_FLIGHT:
            in_flight.add_metric([job, status], count)

    # One row per job: cumulative count per bucket, total count and sum, all in SQL.
    bucket_columns = [
        func.sum(case((JobRun.duration_ms <= int(bound * 1000), 1), else_=0)).label(f"le_{i}")
        for i, bound in enumerate(DURATION_BUCKETS)
    ]
    rows = db.session.execute(
        select(JobRun.job_name, func.count(), func.coalesce(func.sum(JobRun.duration_ms), 0), *bucket_columns)
        .where(JobRun.status.in_(("success", "error")), JobRun.duration_ms.is_not(None))
        .group_by(JobRun.job_name)
    )
    durations = HistogramMetricFamily(
        f"{PREFIX}_job_run_duration_seconds", "Duration of finished periodic job runs.", labels=["job"]
    )
    for job, count, total_ms, *cumulative in rows:
        buckets = [(_bound(b), int(c or 0)) for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)]
        buckets.append(("+Inf", int(count)))
        durations.add_metric([job], buckets, sum_value=int(total_ms) / 1000)
    return [runs, in_flight, durations]


def _bound(seconds: float) -> str:
    return repr(float(seconds))


def _alert_metrics() -> Iterable[Metric]:
    opened = CounterMetricFamily(
        f"{PREFIX}_alerts_opened", "Alerts opened (one per crossing) by kind.", labels=["kind"]
    )
    current = GaugeMetricFamily(
        f"{PREFIX}_alerts",
        "Alerts by kind and status (open, resolved); suppressed ones too.",
        labels=["kind", "status"],
    )
    totals: dict[str, int] = {}
    rows = db.session.execute(select(Alert.kind, Alert.status, func.count()).group_by(Alert.kind, Alert.status))
    for kind, status, count in rows:
        totals[kind] = totals.get(kind, 0) + count
        current.add_metric([kind, status], count)
    for kind, count in sorted(totals.items()):
        opened.add_metric([kind], count)
    return [opened, current]


def _delivery_metrics() -> Iterable[Metric]:
    deliveries = GaugeMetricFamily(
        f"{PREFIX}_deliveries",
        "Deliveries by channel and status (pending, sent, dead, cancelled, skipped).",
        labels=["channel", "status"],
    )
    rows = db.session.execute(
        select(Delivery.channel, Delivery.status, func.count()).group_by(Delivery.channel, Delivery.status)
    )
    for channel, status, count in rows:
        deliveries.add_metric([channel, status], count)

    # The retry queue as the portal shows it: pending deliveries with at least one attempt made.
    waiting = GaugeMetricFamily(
        f"{PREFIX}_retry_queue_deliveries",
        "Deliveries waiting for their next attempt, by alert kind and attempts made.",
        labels=["kind", "attempts"],
    )
    size = 0
    rows = db.session.execute(
        select(Delivery.kind, Delivery.attempts, func.count())
        .where(Delivery.status == "pending", Delivery.attempts > 0)
        .group_by(Delivery.kind, Delivery.attempts)
    )
    for kind, attempts, count in rows:
        size += count
        waiting.add_metric([kind, str(attempts)], count)
    total = GaugeMetricFamily(f"{PREFIX}_retry_queue_size", "Deliveries waiting for their next attempt.")
    total.add_metric([], size)
    return [deliveries, waiting, total]


# --- Redis and RQ --------------------------------------------------------------------------


def _redis_metrics() -> Iterator[Metric]:
    up = GaugeMetricFamily(f"{PREFIX}_redis_up", "1 when Redis answered this scrape.")
    try:
        families = _rq_metrics(queues.get_probe_redis())  # a scrape does not wait out a failover
    except (RedisError, OSError) as exc:
        log.warning("metrics: Redis unavailable: %s", exc)
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    yield from families


def _rq_metrics(connection) -> list[Metric]:
    connection.ping()
    waiting = GaugeMetricFamily(f"{PREFIX}_queue_jobs", "Jobs waiting in each RQ queue.", labels=["queue"])
    registries = GaugeMetricFamily(
        f"{PREFIX}_queue_registry_jobs",
        "Jobs in each queue's registries: started (running), scheduled (delayed retries), failed.",
        labels=["queue", "registry"],
    )
    for queue in queues.queue_snapshot(connection):
        waiting.add_metric([queue["name"]], queue["length"])
        for registry in ("started", "scheduled", "failed"):
            registries.add_metric([queue["name"], registry], queue[registry])

    workers = GaugeMetricFamily(f"{PREFIX}_workers", "Live RQ workers by state (busy, idle, ...).", labels=["state"])
    by_state: dict[str, int] = {"busy": 0, "idle": 0}
    for worker in queues.worker_snapshot(connection):
        state = worker["state"].split(" (", 1)[0]  # "idle (paused: notifications)" counts as idle
        by_state[state] = by_state.get(state, 0) + 1
    for state, count in sorted(by_state.items()):
        workers.add_metric([state], count)
    alive = GaugeMetricFamily(f"{PREFIX}_workers_alive", "Live RQ workers (any state).")
    alive.add_metric([], sum(by_state.values()))

    heartbeat = GaugeMetricFamily(
        f"{PREFIX}_scheduler_heartbeat_age_seconds",
        "Seconds since the scheduler's last heartbeat; +Inf when none is recorded (no scheduler).",
    )
    heartbeat.add_metric([], scheduler_heartbeat_age(connection))
    return [waiting, registries, workers, alive, heartbeat]


def scheduler_heartbeat_age(connection) -> float:
    """Return the seconds since the scheduler last wrote its heartbeat (``inf`` when it has none)."""
    raw = connection.get(queues.SCHEDULER_HEARTBEAT_KEY)
    if raw is None:
        return math.inf
    try:
        return max(0.0, time.time() - float(raw))
    except ValueError:
        return math.inf
