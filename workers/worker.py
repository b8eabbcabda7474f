"""The RQ worker class to run: ``rq worker --worker-class workers.worker.PortalWorker ...``.

Stock ``rq worker`` forks a work horse per job; each horse would build the Flask app, open a
new database connection and compile every SQL statement again, for a job that often takes a
few milliseconds of real work (a scan batch with nothing to change, 100 deliveries). Measured
in ``docs/performance.md``: that overhead was most of an unchanged hourly scan.

``PortalWorker`` runs jobs in its own process (RQ's ``SimpleWorker``), with one app, one
connection pool and SQLAlchemy's compiled-statement cache kept from job to job. What the fork
gave, and what stands in for it here:

- isolation of a crashing job: a job that kills the process (SIGKILL, out of memory) takes the
  worker with it; the supervisor (systemd, compose, honcho) restarts it, RQ marks the job
  abandoned, and the retry processor re-runs lost scan batches and re-enqueues due deliveries
  (``docs/reliability.md``);
- state left behind by a job: every job runs in a fresh app context whose session is removed
  at its end (``workers.context.job_context``), so no ORM state or transaction outlives a job;
- job timeouts: enforced by RQ with SIGALRM in this process, as in a horse;
- warm shutdown: SIGTERM lets the job in hand finish, then the worker exits.
"""

from __future__ import annotations

import logging

from rq import SimpleWorker
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

from portal.extensions import db
from portal.queues import register_queues
from workers.context import worker_app

log = logging.getLogger(__name__)


def _warm_up() -> None:
    """Build the app, configure the ORM mappers and open one database connection before the
    first job, so the first job does not pay for them (a warning if the database is down: the
    jobs connect on their own once it is up)."""
    app = worker_app()
    with app.app_context():
        configure_mappers()
        try:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            log.warning("database not reachable at worker start (%s); continuing", exc)


class PortalWorker(SimpleWorker):
    """A non-forking RQ worker that keeps the Flask app, its connection pool and its compiled
    statements from one job to the next."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _warm_up()
        register_queues(self.connection)
