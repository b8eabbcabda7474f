"""Error handlers: JSON for the API, pages in the layout for people; never a traceback outside debug."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from portal import redis_status
from portal.redis_connection import RedisUnavailable, redis_setting_names

log = logging.getLogger(__name__)


def wants_json() -> bool:
    """True for API requests (answered in JSON rather than with a page)."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(status: int, message: str, **extra):
    """Answer ``status`` with ``message`` as JSON for the API or as a page for people."""
    if wants_json():
        body = {"success": False, "error": message}
        body.update(extra)
        return jsonify(body), status
    try:
        return render_template("error.html", status=status, message=message), status
    except Exception:  # the template itself may depend on what just failed
        return f"{status}: {message}", status, {"Content-Type": "text/plain; charset=utf-8"}


def register_error_handlers(app: Flask) -> None:
    """Install the handlers for HTTP errors and for an unreachable database or Redis."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description or exc.name
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if isinstance(exc, RequestEntityTooLarge) and limit and (request.content_length or 0) > limit:
            message = f"The request body is larger than the {limit:,} bytes allowed (MAX_CONTENT_LENGTH)."
        response = error_response(exc.code or 500, message)
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            resp = app.make_response(response)
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
            return resp
        return response

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError):
        log.error("database unavailable: %s", exc.orig)
        return error_response(503, "The database is not reachable (check DATABASE_URL).")

    @app.errorhandler(RedisError)
    def redis_down(exc: RedisError):
        log.error("redis unavailable: %s", exc)
        redis_status.note_redis_down(exc)
        return error_response(503, f"Redis is not reachable (check {redis_setting_names(app.config)}).")

    @app.errorhandler(RedisUnavailable)
    def redis_needed(exc: RedisUnavailable):
        # Raised before anything changed by an action that needs Redis (portal/redis_status.py).
        log.warning("refused, redis unavailable: %s", exc)
        return error_response(503, str(exc))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if app.debug or app.testing and app.config.get("PROPAGATE_EXCEPTIONS"):
            raise exc
        return error_response(500, "Something went wrong on our side; the error was logged.")
