"""Examples of the API's answers for the OpenAPI document (real answers' shapes;
tests/test_openapi.py validates each against its schema)."""

from __future__ import annotations

# Examples (real answers' shapes; tests/test_openapi.py validates each against its schema).
# fmt: off
JOB_EXAMPLE = {
    "name": "cache-refresh", "description": "Recompute the per-student attendance summaries cached in Redis",
    "schedule": "*/5 * * * *", "enabled": True, "status": "running", "executing": False,
    "lastRun": "2026-12-01T22:40:00Z", "nextRun": "2026-12-01T22:45:00Z", "lastDuration": 184, "errorMessage": None,
    "queue": "maintenance", "lastOutcome": "success", "lastSummary": {"students": 1200, "chunks": 3},
    "missedTicks": "skip", "lastTickMissed": False,
    "pausedBy": None, "pausedAt": None, "pauseReason": None, "resumeAt": None, "pausedForSeconds": None,
}
RETRY_EXAMPLE = {
    "totalPending": 1, "byType": {"warning": 1, "mahroom": 0, "tasdiq": 0}, "byAttempts": {"2": 1},
    "grid": {"warning": {"2": 1}, "mahroom": {}, "tasdiq": {}}, "dead": 0,
}
OVERVIEW_EXAMPLE = {
    "totalJobs": 1, "runningJobs": 1, "stoppedJobs": 0, "errorJobs": 0, "systemHealth": "healthy",
    "jobs": [JOB_EXAMPLE],
    "thresholdMonitor": {
        "enabled": True, "status": "running", "executing": False, "lastRun": "2026-12-01T22:00:00Z",
        "nextRun": "2026-12-01T23:00:00Z", "lastSummary": None, "batchSize": 5000,
        "thresholds": {"warning": "80", "mahroom": "75", "tasdiq": "85"},
    },
    "retryQueue": RETRY_EXAMPLE, "serviceInitialized": True,
}
RECORD_EXAMPLE = {
    "student_number": "S1001", "course_code": "CS101", "date": "2025-09-08", "slot": 1, "hours": "1.50",
    "status": "present",
}
ALERT_EXAMPLE = {
    "id": 1, "studentNumber": "S1001", "studentName": "Ada Lovelace", "courseCode": "CS101", "kind": "warning",
    "status": "open", "suppressed": False, "rate": "70.00", "threshold": "80.00", "heldHours": "10.00",
    "absentHours": "3.00", "excusedHours": "0.00", "openedAt": "2026-12-01T22:00:04Z", "resolvedAt": None,
    "termCode": "1405-AUT", "resolvedReason": None, "plannedHours": "64.00", "warningAbsentLimit": "12.8",
    "mahroomAbsentLimit": "16", "hoursLeftBeforeWarning": "9.8", "hoursLeftBeforeMahroom": "13",
    "warningCertain": False, "mahroomCertain": False,
}
DELIVERY_EXAMPLE = {
    "id": 7, "notificationId": 3, "kind": "warning", "channel": "email", "recipient": "s1001@uni.example",
    "status": "pending", "attempts": 2, "nextAttemptAt": "2026-12-01T23:10:00Z",
    "lastAttemptAt": "2026-12-01T22:10:00Z", "lastError": "SMTP 451: try again later", "sentAt": None,
    "createdAt": "2026-12-01T22:00:05Z", "studentNumber": "S1001", "courseCode": "CS101",
}
NOT_READY_EXAMPLE = {
    "status": "not ready", "failing": ["redis"],
    "checks": {
        "database": {"ok": True}, "redis": {"ok": False, "error": "Redis is not reachable (check REDIS_URL)."},
        "migrations": {"ok": True, "current": ["0006_enrollment_hundredths"], "expected": ["0006_enrollment_hundredths"]},
    },
}
# fmt: on
