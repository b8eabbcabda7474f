"""The overview of every periodic job, the scheduler and the retry queue (the admin API's main answer)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal.notifications.retry_queue import retry_queue_status
from portal.periodic.health import system_health
from portal.periodic.jobs import list_job_status
from portal.periodic.registry import THRESHOLD_MONITOR


def jobs_overview() -> dict[str, Any]:
    """Return the data of ``GET /api/admin/background-jobs`` (docs/api.md).

    ``serviceInitialized`` is true while a scheduler process is alive (it registered the jobs).
    """
    jobs = list_job_status()
    health = system_health(jobs)
    monitor = next(job for job in jobs if job["name"] == THRESHOLD_MONITOR)
    config = current_app.config
    return {
        "totalJobs": len(jobs),
        "runningJobs": sum(1 for job in jobs if job["status"] == "running"),
        "stoppedJobs": sum(1 for job in jobs if job["status"] == "stopped"),
        "errorJobs": sum(1 for job in jobs if job["status"] == "error"),
        "systemHealth": health["status"],
        "jobs": jobs,
        "thresholdMonitor": {
            "enabled": monitor["enabled"],
            "status": monitor["status"],
            "executing": monitor["executing"],
            "lastRun": monitor["lastRun"],
            "nextRun": monitor["nextRun"],
            "lastSummary": monitor["lastSummary"],
            "batchSize": config["SCAN_BATCH_SIZE"],
            "thresholds": {
                "warning": str(config["WARNING_THRESHOLD"]),
                "mahroom": str(config["MAHROOM_THRESHOLD"]),
                "tasdiq": str(config["TASDIQ_THRESHOLD"]),
            },
        },
        "retryQueue": retry_queue_status(),
        "serviceInitialized": health["schedulerAlive"],
    }
