"""The scheduler entry point (``python schedules.py``) and the periodic-job registry's front door.

The registry itself (``PERIODIC_JOBS``) lives in ``portal/periodic/registry.py``, the sync
with rq-scheduler in ``portal/periodic/sync.py`` and the process loop in
``portal/periodic/scheduler.py``; this file sets the process up and starts the loop, so the
Procfile, the systemd unit and the compose file keep calling ``python schedules.py``.

Crons are UTC. rq-scheduler computes cron times with the server's local time, so ``main``
sets ``TZ=UTC`` before anything else computes a time.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

from portal.periodic.registry import PERIODIC_JOBS, PeriodicJob, get_job

__all__ = ["PERIODIC_JOBS", "PeriodicJob", "get_job", "main"]


def main(argv: list[str] | None = None) -> None:
    """``python schedules.py [--burst] [--sync-only] [--interval SECONDS]``."""
    # Before anything computes a time: rq-scheduler's cron maths uses local time.
    os.environ["TZ"] = "UTC"
    time.tzset()
    # crontab warns about its own future default on every call rq-scheduler makes; we pass UTC explicitly.
    warnings.filterwarnings("ignore", message="Version 0.22.0", category=FutureWarning)
    parser = argparse.ArgumentParser(description="The periodic-job scheduler (rq-scheduler, crons in UTC).")
    parser.add_argument("--burst", action="store_true", help="enqueue what is due once, then exit")
    parser.add_argument("--sync-only", action="store_true", help="sync the registry into rq-scheduler and exit")
    parser.add_argument("--interval", type=int, default=None, help="seconds between scheduler passes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from portal.periodic.scheduler import run_scheduler  # after TZ is set: it imports rq-scheduler

    run_scheduler(burst=args.burst, interval=args.interval, sync_only=args.sync_only)


if __name__ == "__main__":
    main()
