"""The Flask app a worker process runs its jobs in: created once per process, on first use."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from flask import Flask, current_app, has_app_context

from portal import create_app
from portal.extensions import db

_app: Flask | None = None


def use_app(app: Flask | None) -> None:
    """Make ``app`` the app job functions run in (tests and embedded workers); None resets."""
    global _app
    _app = app


def worker_app() -> Flask:
    """Return this process's app, creating it from the environment the first time."""
    global _app
    if _app is None:
        _app = create_app()
    return _app


@contextlib.contextmanager
def job_context() -> Iterator[Flask]:
    """Run a job body inside the worker app's context (reusing one already pushed)."""
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    app = worker_app()
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
