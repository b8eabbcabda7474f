"""Connections to Redis: one server at ``REDIS_URL``, or the master Redis Sentinel names.

``portal/queues.py`` re-exports these; the app's shared client is ``queues.get_redis()``, and
RQ's command line gets the same connection from ``workers/rq_settings.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from redis import Redis
from redis.backoff import ConstantBackoff, NoBackoff
from redis.connection import SSLConnection, parse_url
from redis.exceptions import RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached; the message names REDIS_URL (or REDIS_SENTINELS)."""


# Timeouts of every client to the data server (the master).
SOCKET_CONNECT_TIMEOUT = 2
SOCKET_TIMEOUT = 10
HEALTH_CHECK_INTERVAL = 30
# Between two tries of a command while the sentinels fail the master over: short, so a process
# resumes within half a second of the new master's promotion.
FAILOVER_RETRY_PAUSE = 0.5
# A probe (readiness, `flask check`) answers quickly instead of waiting out a failover.
PROBE_RETRY_SECONDS = 2
# The pages' "is Redis there?" check: a refused connection answers at once, a silent host in this.
QUICK_PROBE_TIMEOUT = 0.5


def redis_from_url(url: str) -> Redis:
    """Return a client for ``url`` (not yet connected)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=SOCKET_CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        health_check_interval=HEALTH_CHECK_INTERVAL,
    )


def redis_quick_probe(config: Mapping[str, Any]) -> Redis:
    """Return a client that gives up fast (``QUICK_PROBE_TIMEOUT``, no retry): pages ask it
    whether Redis answers before they depend on it, so a Redis that is down costs a page
    well under a second instead of a connect timeout per Redis call."""
    if uses_sentinel(config):
        return redis_client(config, retry_seconds=QUICK_PROBE_TIMEOUT)
    return Redis.from_url(
        config["REDIS_URL"],
        socket_connect_timeout=QUICK_PROBE_TIMEOUT,
        socket_timeout=QUICK_PROBE_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )


def redis_address(config: Mapping[str, Any]) -> str:
    """Where Redis is, without credentials: ``host:port``, or the sentinels and the master's name."""
    if uses_sentinel(config):
        sentinels = ",".join(f"{host}:{port}" for host, port in config["REDIS_SENTINELS"])
        return f"{config['REDIS_SENTINEL_MASTER']} via sentinels {sentinels}"
    parsed = parse_url(config["REDIS_URL"])
    if parsed.get("path"):  # unix:// socket
        return str(parsed["path"])
    return f"{parsed.get('host', 'localhost')}:{parsed.get('port', 6379)}"


def uses_sentinel(config: Mapping[str, Any]) -> bool:
    """True when ``config`` finds the master through Redis Sentinel (``REDIS_SENTINELS`` set)."""
    return bool(config.get("REDIS_SENTINELS"))


def redis_location(config: Mapping[str, Any]) -> str:
    """Where Redis is, as the setting to check: ``REDIS_URL='...'`` or the sentinels and master."""
    if uses_sentinel(config):
        sentinels = ",".join(f"{host}:{port}" for host, port in config["REDIS_SENTINELS"])
        return f"REDIS_SENTINELS={sentinels} (REDIS_SENTINEL_MASTER={config['REDIS_SENTINEL_MASTER']!r})"
    return f"REDIS_URL={config['REDIS_URL']!r}"


def redis_setting_names(config: Mapping[str, Any]) -> str:
    """The names of the settings that say where Redis is (for messages that show no values)."""
    return "REDIS_SENTINELS and REDIS_SENTINEL_MASTER" if uses_sentinel(config) else "REDIS_URL"


class FailoverConnection(SentinelManagedConnection):
    """A Sentinel-managed connection that is closed when a read is interrupted.

    redis-py's ``SentinelManagedConnection.read_response`` defaults ``disconnect_on_error`` to
    False where a plain ``Connection`` defaults it to True: an exception raised inside a read
    (RQ's warm shutdown raises ``StopRequested`` from its SIGTERM handler while the worker
    waits in ``BLMOVE``; a job timeout raises from SIGALRM) left the connection in the pool
    with the interrupted command's reply still to come, and the next command read that reply
    (a stopping worker hung in ``register_death`` until the ``BLMOVE`` timed out).
    """

    def read_response(self, disable_decoding=False, *, disconnect_on_error=True, **kwargs):
        return super().read_response(disable_decoding, disconnect_on_error=disconnect_on_error, **kwargs)


class FailoverSSLConnection(FailoverConnection, SSLConnection):
    """``FailoverConnection`` over TLS (``rediss://`` in ``REDIS_URL``)."""


def failover_retry(seconds: float) -> Retry:
    """A retry policy that keeps trying a command for about ``seconds``.

    redis-py retries ``ConnectionError`` and ``TimeoutError``; a Sentinel-managed connection
    asks the sentinels for the master on every reconnect, turns a ``ReadOnlyError`` (the old
    master came back as a replica) into a ``ConnectionError``, and raises
    ``MasterNotFoundError`` (a ``ConnectionError``) while no master is elected. So retrying
    for longer than a failover takes carries a worker or the scheduler across it.
    """
    return Retry(ConstantBackoff(FAILOVER_RETRY_PAUSE), retries=math.ceil(seconds / FAILOVER_RETRY_PAUSE))


def _master_connection_kwargs(config: Mapping[str, Any], retry_seconds: float | None) -> dict[str, Any]:
    """Keyword arguments of the master's connections: REDIS_URL's database and credentials,
    the usual timeouts, and the failover retry policy."""
    from_url = parse_url(config["REDIS_URL"])
    kwargs: dict[str, Any] = {
        "db": int(from_url.get("db") or 0),
        "username": from_url.get("username"),
        "password": from_url.get("password"),
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "retry": failover_retry(retry_seconds or config["REDIS_FAILOVER_SECONDS"]),
        "connection_class": FailoverSSLConnection
        if config["REDIS_URL"].startswith("rediss://")
        else FailoverConnection,
    }
    return kwargs


def _sentinel_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of the connections to the sentinels: fail fast (the next sentinel is
    asked), never retry one sentinel."""
    kwargs: dict[str, Any] = {"socket_connect_timeout": 1, "socket_timeout": 1, "retry": Retry(NoBackoff(), 0)}
    if config.get("REDIS_SENTINEL_PASSWORD"):
        kwargs["password"] = config["REDIS_SENTINEL_PASSWORD"]
    return kwargs


def redis_client(config: Mapping[str, Any], retry_seconds: float | None = None) -> Redis:
    """Return a client (not yet connected) for the Redis ``config`` names.

    Without ``REDIS_SENTINELS``: ``redis_from_url(REDIS_URL)``. With it: a Sentinel
    ``master_for`` client, which finds the master through the sentinels and follows a
    failover (``failover_retry``: ``retry_seconds``, default ``REDIS_FAILOVER_SECONDS``).
    """
    if not uses_sentinel(config):
        return redis_from_url(config["REDIS_URL"])
    sentinel = Sentinel(list(config["REDIS_SENTINELS"]), sentinel_kwargs=_sentinel_kwargs(config))
    return sentinel.master_for(config["REDIS_SENTINEL_MASTER"], **_master_connection_kwargs(config, retry_seconds))


def rq_cli_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings RQ's command line reads from ``-c workers.rq_settings`` (see
    ``rq/cli/helpers.py``: ``REDIS_URL``, or ``SENTINEL`` with its instances, master and
    connection arguments): the same connection as ``redis_client(config)``."""
    if not uses_sentinel(config):
        return {"REDIS_URL": config["REDIS_URL"]}
    kwargs = _master_connection_kwargs(config, None)
    return {
        "SENTINEL": {
            "INSTANCES": list(config["REDIS_SENTINELS"]),
            "MASTER_NAME": config["REDIS_SENTINEL_MASTER"],
            "DB": kwargs.pop("db"),
            "USERNAME": kwargs.pop("username"),
            "PASSWORD": kwargs.pop("password"),
            "SOCKET_TIMEOUT": kwargs.pop("socket_timeout"),
            "CONNECTION_KWARGS": kwargs,
            "SENTINEL_KWARGS": _sentinel_kwargs(config),
        }
    }


def check_redis(config: Mapping[str, Any]) -> None:
    """Raise RedisUnavailable, naming where Redis was looked for, when it does not answer PING."""
    try:
        redis_client(config, retry_seconds=PROBE_RETRY_SECONDS).ping()
    except (RedisError, OSError, ValueError) as exc:
        raise RedisUnavailable(f"Redis is not reachable at {redis_location(config)}: {exc}") from None
