"""Periodic jobs: the registry, cron maths, the rq-scheduler sync, job control, runs and system health."""
