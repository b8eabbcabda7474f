"""RQ's settings module: ``rq worker -c workers.rq_settings ...`` and ``rq info -c workers.rq_settings``.

RQ's command line reads the upper-case names of this module (``rq/cli/helpers.py``):
``REDIS_URL`` when ``REDIS_SENTINELS`` is unset (the same as ``--url $REDIS_URL``), otherwise
``SENTINEL``, so the worker finds the master through the sentinels and follows a failover with
the same retry policy as the portal's own client (``portal/redis_connection.py``). Only the
Redis settings are read from the environment here; a malformed one stops the command with one
line naming the variable.
"""

from __future__ import annotations

from portal.config import ConfigError, redis_settings
from portal.redis_connection import rq_cli_settings

try:
    globals().update(rq_cli_settings(redis_settings()))
except ConfigError as exc:
    raise SystemExit(f"Error: {exc}") from None
