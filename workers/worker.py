"""The RQ worker class to run: ``rq worker --worker-class workers.worker.PortalWorker ...``.

Stock ``rq worker`` forks a work horse per job, and each horse would build the Flask app on
its first job (seconds of imports and set-up, every job). This worker builds the app once in
the parent, before any fork, so every horse inherits it ready to use.
"""

from __future__ import annotations

import logging
import os

from rq import Worker

from portal.queues import register_queues
from workers.context import worker_app

log = logging.getLogger(__name__)
_fork_hook_installed = False


def _forget_inherited_connections() -> None:
    """In a fresh work horse: drop the parent's pooled database connections without closing
    them (the parent still owns those sockets); the horse opens its own on first use."""
    from portal.extensions import db

    app = worker_app()
    with app.app_context():
        db.engine.dispose(close=False)


def _warm_up() -> None:
    """In the parent, before any fork: configure the ORM mappers and initialise the database
    dialect once, so every work horse inherits them instead of redoing them on its first job
    (measured: most of a short scan batch's time). The parent's connection is closed again."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import configure_mappers

    from portal.extensions import db

    app = worker_app()
    with app.app_context():
        configure_mappers()
        try:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:  # the database may come up later; horses connect on their own
            log.warning("database not reachable at worker start (%s); continuing", exc)
        finally:
            db.engine.dispose()


class PortalWorker(Worker):
    """A forking RQ worker whose work horses inherit an already-created Flask app."""

    def __init__(self, *args, **kwargs):
        global _fork_hook_installed
        super().__init__(*args, **kwargs)
        _warm_up()
        register_queues(self.connection)
        if not _fork_hook_installed:
            os.register_at_fork(after_in_child=_forget_inherited_connections)
            _fork_hook_installed = True
