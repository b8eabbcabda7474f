"""The RQ worker class to run: ``rq worker --worker-class workers.worker.PortalWorker ...``.

Stock ``rq worker`` forks a work horse per job, and each horse would build the Flask app on
its first job (seconds of imports and set-up, every job). This worker builds the app once in
the parent, before any fork, so every horse inherits it ready to use.
"""

from __future__ import annotations

import os

from rq import Worker

from portal.queues import register_queues
from workers.context import worker_app

_fork_hook_installed = False


def _forget_inherited_connections() -> None:
    """In a fresh work horse: drop the parent's pooled database connections without closing
    them (the parent still owns those sockets); the horse opens its own on first use."""
    from portal.extensions import db

    app = worker_app()
    with app.app_context():
        db.engine.dispose(close=False)


class PortalWorker(Worker):
    """A forking RQ worker whose work horses inherit an already-created Flask app."""

    def __init__(self, *args, **kwargs):
        global _fork_hook_installed
        super().__init__(*args, **kwargs)
        worker_app()
        register_queues(self.connection)
        if not _fork_hook_installed:
            os.register_at_fork(after_in_child=_forget_inherited_connections)
            _fork_hook_installed = True
