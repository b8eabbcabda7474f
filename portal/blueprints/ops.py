"""Operations endpoints: liveness, readiness and Prometheus metrics.

``/healthz`` and ``/readyz`` need no sign-in and show no secrets (no URLs, no hosts): a load
balancer or an orchestrator polls them. ``/metrics`` is for Prometheus: with ``METRICS_TOKEN``
set it needs ``Authorization: Bearer <METRICS_TOKEN>``, otherwise it answers only requests
whose every hop (the peer and each ``X-Forwarded-For`` entry) is in ``METRICS_ALLOW_NETWORKS``,
so a reverse proxy on the same machine does not open it to the world. All three are GET-only,
so CSRF does not apply.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal import queues
from portal.extensions import db
from portal.operations.metrics import render_metrics

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)

# Every endpoint reachable without signing in, GET only (checked by the URL-map tests): the
# probes, the metrics (which have their own token and network check) and the API's OpenAPI
# document, which describes the API and holds no data.
PUBLIC_ENDPOINTS = frozenset({"ops.healthz", "ops.readyz", "ops.metrics", "openapi.openapi_document"})


@bp.after_request
def _never_cached(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers HTTP. Touches neither the database nor Redis."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Readiness: the database and Redis answer and the schema is at the newest migration."""
    checks = {"database": _check_database(), "redis": _check_redis(), "migrations": _check_migrations()}
    ready = all(check["ok"] for check in checks.values())
    failing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ready" if ready else "not ready", "failing": failing, "checks": checks}
    return jsonify(body), 200 if ready else 503


@bp.get("/metrics")
def metrics():
    """Prometheus text format, computed now from the database and Redis."""
    refusal = _metrics_refusal()
    if refusal is not None:
        return refusal
    return Response(render_metrics(current_app._get_current_object()), mimetype=None, content_type=CONTENT_TYPE_LATEST)


# --- readiness checks ------------------------------------------------------------------------


def _check_database() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
        return {"ok": True}
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("readyz: database unreachable: %s", getattr(exc, "orig", exc))
        return {"ok": False, "error": "The database is not reachable (check DATABASE_URL)."}


def _check_redis() -> dict:
    try:
        queues.get_probe_redis().ping()
        return {"ok": True}
    except (RedisError, OSError) as exc:
        log.warning("readyz: Redis unreachable: %s", exc)
        return {
            "ok": False,
            "error": f"Redis is not reachable (check {queues.redis_setting_names(current_app.config)}).",
        }


def _check_migrations() -> dict:
    try:
        expected = set(_migration_heads())
        with db.engine.connect() as connection:
            current = {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError as exc:
        log.warning("readyz: cannot read the schema version: %s", getattr(exc, "orig", exc))
        current = set()
    result = {"ok": current == expected, "current": sorted(current), "expected": sorted(expected)}
    if not result["ok"]:
        result["error"] = "The database schema is not at the newest migration: run `flask --app wsgi db upgrade`."
    return result


def _migration_heads() -> tuple[str, ...]:
    """The head revisions of the migration scripts (read once per app)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    heads = app.extensions.get("migration_heads")
    if heads is None:
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", app.extensions["migrate"].directory)
        heads = tuple(ScriptDirectory.from_config(config).get_heads())
        app.extensions["migration_heads"] = heads
    return heads


# --- who may scrape ---------------------------------------------------------------------------


def _metrics_refusal():
    token = current_app.config.get("METRICS_TOKEN") or ""
    if token:
        header = request.headers.get("Authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if given and hmac.compare_digest(given.encode(), token.encode()):
            return None
        response = jsonify({"success": False, "error": "Send 'Authorization: Bearer <METRICS_TOKEN>'."})
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response, 401
    if _from_allowed_network(current_app.config.get("METRICS_ALLOW_NETWORKS") or ()):
        return None
    return jsonify({"success": False, "error": "Metrics are not served to this address."}), 403


def _from_allowed_network(networks) -> bool:
    allowed = [ipaddress.ip_network(n, strict=False) for n in networks]
    hops = [request.remote_addr or ""]
    forwarded = request.headers.get("X-Forwarded-For", "")
    hops += [part.strip() for part in forwarded.split(",") if part.strip()]
    for hop in hops:
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if not any(address in network for network in allowed):
            return False
    return True
