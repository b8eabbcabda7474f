"""Is Redis reachable? One quick, cached answer per process, so pages served from the database
alone keep working (with the ``critical`` banner) while Redis is down.

A page asks ``redis_reachable()`` before it touches Redis: the answer is cached for
``REDIS_STATUS_SECONDS`` (2 s), so one page load costs at most one quick probe however many
parts of it need Redis, and a Redis that is down costs no connect timeout at all in between.
Code that catches a ``RedisError`` itself calls ``note_redis_down()`` so the next parts skip it.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from flask_babel import gettext as _
from redis.exceptions import RedisError

from portal.redis_connection import RedisUnavailable, redis_address, redis_location, redis_quick_probe

log = logging.getLogger(__name__)

REDIS_STATUS_SECONDS = 2.0
_lock = threading.Lock()


def _state() -> dict:
    """This app's cached answer ``{"where", "checkedAt", "ok", "client", "error"}`` (one per app and
    process; started afresh when the settings point somewhere else)."""
    where = redis_location(current_app.config)
    state = current_app.extensions.get("redis_status")
    if state is None or state["where"] != where:
        state = {"where": where, "checkedAt": None, "ok": True, "client": None, "error": None}
        current_app.extensions["redis_status"] = state
    return state


def redis_reachable() -> bool:
    """True when Redis answered a PING within the last ``REDIS_STATUS_SECONDS`` (probing now if
    the cached answer is older)."""
    state = _state()
    ttl = float(current_app.config.get("REDIS_STATUS_SECONDS", REDIS_STATUS_SECONDS))
    checked = state["checkedAt"]
    if checked is not None and time.monotonic() - checked < ttl:
        return state["ok"]
    with _lock:
        if state["client"] is None:
            state["client"] = redis_quick_probe(current_app.config)
        try:
            ok, state["error"] = bool(state["client"].ping()), None
        except (RedisError, OSError) as exc:
            log.warning("redis unreachable at %s: %s", redis_address(current_app.config), exc)
            ok, state["error"] = False, str(exc)[:300]
        state["ok"], state["checkedAt"] = ok, time.monotonic()
    return ok


def note_redis_down(exc: BaseException | None = None) -> None:
    """Remember that a Redis call just failed (with ``exc``), so the page's other parts do not
    try again.

    An answer that is "down" already is left to expire: polling parts that keep noting it
    must not keep a Redis that came back looking down.
    """
    state = _state()
    if state["ok"]:
        state["ok"], state["checkedAt"] = False, time.monotonic()
        state["error"] = str(exc)[:300] if exc is not None else None


def redis_down_reasons() -> list[str]:
    """The health reasons while Redis is down: the one sentence, then what Redis's client said."""
    reasons = [redis_down_message()]
    error = _state().get("error")
    if error:
        reasons.append(_("the last try said: %(error)s", error=error))
    return reasons


def redis_down_message() -> str:
    """The one sentence every page and the health model use when Redis does not answer."""
    return _(
        "Redis is unreachable at %(address)s (check REDIS_URL / sentinel settings): background jobs, "
        "live refresh and the retry queue's workers are stopped",
        address=redis_address(current_app.config),
    )


def require_redis() -> None:
    """Raise RedisUnavailable (saying where Redis is and that nothing changed) unless Redis answers.

    Actions that need Redis (queue a run, retry a delivery now) call this before they change
    anything in the database, so a refused action leaves no trace but its message.
    """
    if not redis_reachable():
        raise RedisUnavailable(
            _(
                "This action needs Redis, which is unreachable at %(address)s (check REDIS_URL / sentinel "
                "settings); nothing was changed.",
                address=redis_address(current_app.config),
            )
        )


def down_health() -> dict | None:
    """The ``critical`` health (the dashboard banner's shape) when Redis is down, else None:
    what every page's layout shows above its content."""
    if redis_reachable():
        return None
    return {"status": "critical", "reasons": redis_down_reasons()}
