"""Process logging: one line per event, as text or as JSON (``LOG_FORMAT=json``).

Every line logged while an RQ job runs carries the job's ids: ``job_id`` (RQ's current job),
and ``job_name`` / ``run_id`` from :func:`job_log_context`, which the periodic-job dispatcher
opens around a run. Outside a periodic run ``job_name`` falls back to the RQ job's function
name, so a scan batch or a delivery job is still identifiable.

:func:`configure_logging` is called once per app by ``create_app``; calling it again (tests
build many apps) replaces its own handler's settings instead of adding a second handler.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from rq import get_current_job
from rq.logutils import ColorizingStreamHandler

JOB_FIELDS = ("job_id", "job_name", "run_id")
# RQ installs these on its own loggers when nothing handles them yet; once ours is on the
# root logger they would print every worker line twice.
RQ_LOGGERS = ("rq.worker", "rq.job", "rq.scheduler", "rq_scheduler.scheduler")
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is kept.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", *JOB_FIELDS}


@dataclass
class JobLogContext:
    """The periodic job being run in this context; set ``run_id`` once the run is recorded."""

    job_name: str
    run_id: int | None = None


_current: contextvars.ContextVar[JobLogContext | None] = contextvars.ContextVar("portal_job_log_context", default=None)


@contextlib.contextmanager
def job_log_context(job_name: str, run_id: int | None = None) -> Iterator[JobLogContext]:
    """Tag every log line in the block with ``job_name`` and ``run_id``; yields the context.

    The dispatcher knows the run id only after recording the run, so it may assign
    ``ctx.run_id = run.id`` inside the block.
    """
    ctx = JobLogContext(job_name, run_id)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current_job_fields() -> dict[str, Any]:
    """Return ``{job_id, job_name, run_id}`` for the code running now (values None outside a job)."""
    job = get_current_job()
    ctx = _current.get()
    job_name = ctx.job_name if ctx is not None else None
    if job_name is None and job is not None:
        job_name = job.func_name
    return {
        "job_id": job.id if job is not None else None,
        "job_name": job_name,
        "run_id": ctx.run_id if ctx is not None else None,
    }


class JobContextFilter(logging.Filter):
    """Adds ``job_id``, ``job_name`` and ``run_id`` to every record (None outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_job_fields().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the job fields, extras.

    A traceback goes in ``exception`` as one string, so an event is still one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key in JOB_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                document[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                document.setdefault(key, value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [job=… run=… name=…]: message``; newlines escaped to keep one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(job_tags)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging API
        return _timestamp(record)

    def format(self, record: logging.LogRecord) -> str:
        tags = [
            f"{label}={getattr(record, key)}" for key, label in _TEXT_TAGS if getattr(record, key, None) is not None
        ]
        record.job_tags = f" [{' '.join(tags)}]" if tags else ""
        try:
            return super().format(record).replace("\r", "").replace("\n", "\\n")
        finally:
            del record.job_tags


_TEXT_TAGS = (("job_name", "job"), ("run_id", "run"), ("job_id", "rq_job"))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def make_formatter(log_format: str) -> logging.Formatter:
    """Return the formatter for ``LOG_FORMAT`` (``json``; anything else is text)."""
    return JsonFormatter() if log_format.strip().lower() == "json" else TextFormatter()


def make_handler(log_format: str, stream=None) -> logging.Handler:
    """Return a handler with the portal's formatter and job filter (``stream`` default: stderr)."""
    handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(JobContextFilter())
    return handler


def _prints_to_console(handler: logging.Handler) -> bool:
    # Exactly StreamHandler (basicConfig's); subclasses such as pytest's capture handlers stay.
    return type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout)


def configure_logging(app: Flask) -> logging.Handler:
    """Install (or update) the portal's handler on the root logger from the app's config.

    Reads ``LOG_FORMAT`` and ``LOG_LEVEL``; hands RQ's loggers over to it so a worker prints
    each event once. Returns the handler.
    """
    log_format = str(app.config.get("LOG_FORMAT", "text"))
    level = str(app.config.get("LOG_LEVEL", "INFO")).upper()
    root = logging.getLogger()
    for plain in [h for h in root.handlers if _prints_to_console(h)]:
        root.removeHandler(plain)  # e.g. a ``logging.basicConfig`` made before the app existed
    handler = next((h for h in root.handlers if getattr(h, "_portal_handler", False)), None)
    if handler is None:
        handler = make_handler(log_format)
        handler._portal_handler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    else:
        handler.setFormatter(make_formatter(log_format))
    root.setLevel(level)

    for name in RQ_LOGGERS:
        logger = logging.getLogger(name)
        for own in [h for h in logger.handlers if isinstance(h, ColorizingStreamHandler)]:
            logger.removeHandler(own)
        logger.propagate = True
    return handler
