"""Redis Sentinel settings and clients: REDIS_SENTINELS / REDIS_SENTINEL_MASTER parsed (bad values
named), nothing changed without them, and every client (the app's, RQ's command line's, the
probes') finding the master through a real loopback Sentinel deployment and following a failover."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from redis.sentinel import SentinelConnectionPool
from rq.cli.helpers import get_redis_from_config

from portal import queues, redis_connection
from portal.config import ConfigError, load_config, redis_settings
from portal.periodic.health import system_health
from tests.faultkit import ROOT, free_port
from tests.sentinelkit import MASTER_NAME, SentinelCluster


@pytest.fixture
def cluster(tmp_path):
    deployment = SentinelCluster(tmp_path).start()
    yield deployment
    deployment.stop()


@pytest.fixture
def app_config(request):
    """The ``app`` fixture on the cluster when the test asks for one (``cluster`` in its arguments)."""
    if "cluster" in request.fixturenames:
        return request.getfixturevalue("cluster").config()
    return {}


# --- settings -------------------------------------------------------------------------------


def test_sentinels_and_master_are_parsed_into_host_port_pairs():
    settings = redis_settings(
        {
            "REDIS_SENTINELS": " 10.0.0.5:26379, sentinel-b:26380,[::1]:26381,10.0.0.5:26379",
            "REDIS_SENTINEL_MASTER": "attendance",
            "REDIS_URL": "redis://:secret@ignored:6379/3",
        }
    )
    assert settings["REDIS_SENTINELS"] == (("10.0.0.5", 26379), ("sentinel-b", 26380), ("::1", 26381))
    assert settings["REDIS_SENTINEL_MASTER"] == "attendance"
    assert settings["REDIS_FAILOVER_SECONDS"] == 30
    assert redis_connection.redis_location(settings) == (
        "REDIS_SENTINELS=10.0.0.5:26379,sentinel-b:26380,::1:26381 (REDIS_SENTINEL_MASTER='attendance')"
    )


def test_without_sentinels_the_redis_settings_and_rq_settings_are_as_before():
    config = load_config({"FLASK_ENV": "development", "REDIS_URL": "redis://cache:6380/2"})
    assert (config["REDIS_URL"], config["REDIS_SENTINELS"], config["REDIS_SENTINEL_MASTER"]) == (
        "redis://cache:6380/2",
        (),
        "",
    )
    assert redis_connection.rq_cli_settings(config) == {"REDIS_URL": "redis://cache:6380/2"}
    client = redis_connection.redis_client(config)
    assert not redis_connection.uses_sentinel(config) and type(client.connection_pool) is not SentinelConnectionPool
    assert client.connection_pool.connection_kwargs["port"] == 6380
    assert redis_connection.redis_setting_names(config) == "REDIS_URL"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_SENTINELS": "10.0.0.5"}, "REDIS_SENTINELS must be comma-separated host:port pairs"),
        ({"REDIS_SENTINELS": "10.0.0.5:port"}, "got '10.0.0.5:port'"),
        ({"REDIS_SENTINELS": "10.0.0.5:70000"}, "REDIS_SENTINELS must be comma-separated host:port pairs"),
        ({"REDIS_SENTINELS": ":26379"}, "REDIS_SENTINELS must be comma-separated host:port pairs"),
        ({"REDIS_SENTINELS": " , "}, "REDIS_SENTINELS must list at least one host:port"),
        ({"REDIS_SENTINELS": "10.0.0.5:26379"}, "REDIS_SENTINEL_MASTER must name the master"),
        ({"REDIS_SENTINEL_MASTER": "attendance"}, "REDIS_SENTINEL_MASTER is set but REDIS_SENTINELS is not"),
        (
            {"REDIS_SENTINELS": "a:1", "REDIS_SENTINEL_MASTER": "m", "REDIS_URL": "redis://h/zero"},
            "REDIS_URL must be redis://[:password@]host/DB",
        ),
        ({"REDIS_FAILOVER_SECONDS": "0"}, "REDIS_FAILOVER_SECONDS must be at least 1"),
        ({"REDIS_FAILOVER_SECONDS": "soon"}, "REDIS_FAILOVER_SECONDS must be a whole number"),
    ],
)
def test_a_bad_sentinel_setting_is_refused_naming_it(env, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config({"FLASK_ENV": "development", **env})


def test_a_bad_sentinel_setting_stops_rq_with_one_line_naming_it(tmp_path):
    result = subprocess.run(
        [str(ROOT / ".venv/bin/rq"), "info", "-c", "workers.rq_settings"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "REDIS_SENTINELS": "10.0.0.5:26379"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: REDIS_SENTINEL_MASTER must name the master the sentinels monitor (REDIS_SENTINELS is set)"
    ]


def test_the_failover_retry_spans_the_configured_seconds():
    retry = redis_connection.failover_retry(30)
    assert retry.get_retries() * redis_connection.FAILOVER_RETRY_PAUSE >= 30


# --- clients against a real Sentinel deployment ------------------------------------------------


def test_the_apps_client_finds_the_master_through_the_sentinels(app, cluster):
    client = queues.get_redis()
    assert isinstance(client.connection_pool, SentinelConnectionPool)
    client.set("portal:test", "through-sentinel")
    assert cluster.master().get("portal:test") == b"through-sentinel"
    assert client.connection_pool.get_master_address() == ("127.0.0.1", cluster.data_ports[0])


def test_rqs_command_line_settings_reach_the_same_master(cluster):
    settings = redis_connection.rq_cli_settings(cluster.config())
    assert settings["SENTINEL"]["MASTER_NAME"] == MASTER_NAME
    client = get_redis_from_config(settings)  # what `rq worker -c workers.rq_settings` builds
    client.set("rq:test", "1")
    assert cluster.master().get("rq:test") == b"1"
    assert client.connection_pool.connection_kwargs["retry"].get_retries() == 60  # 30 s in 0.5 s steps


def test_rq_info_with_the_settings_module_lists_the_queues_of_the_master(app, cluster):
    queues.register_queues(queues.get_redis())
    result = subprocess.run(
        [sys.executable, "-m", "rq.cli", "info", "-c", "workers.rq_settings", "--only-queues"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **cluster.env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in queues.QUEUE_NAMES), result.stdout


def test_the_apps_client_follows_a_failover_without_a_restart(app, cluster):
    client = queues.get_redis()
    client.set("counter", 1)
    cluster.master().wait(1, 5000)  # on the replica too
    old = cluster.kill_master()
    assert client.incr("counter") == 2  # retried through the failover, on the promoted replica
    assert client.connection_pool.get_master_address() == ("127.0.0.1", cluster.data_ports[1]) != ("127.0.0.1", old)


class Interrupted(Exception):
    pass


def _interrupt(signum, frame):
    raise Interrupted


def test_a_read_interrupted_by_a_signal_closes_the_connection_so_the_next_command_gets_its_own_reply(app, cluster):
    # RQ's warm shutdown and job timeouts raise from a signal handler, often inside a blocking read.
    client = queues.get_redis()
    previous = signal.signal(signal.SIGALRM, _interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupted):
            client.blpop(["nothing-comes"], timeout=3)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    started = time.monotonic()
    assert client.ping() is True  # not the BLPOP's late nil, 3 s later
    assert time.monotonic() - started < 1


def test_unreachable_sentinels_are_named_by_flask_check_and_readyz(app, runner, client):
    app.config.update(REDIS_SENTINELS=(("127.0.0.1", free_port()),), REDIS_SENTINEL_MASTER=MASTER_NAME)
    app.extensions.pop("redis", None)
    result = runner.invoke(args=["check"])
    assert result.exit_code == 1
    assert "Redis is not reachable at REDIS_SENTINELS=127.0.0.1:" in result.output
    assert "(REDIS_SENTINEL_MASTER='attendance'): No master found for 'attendance'" in result.output
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["redis"]["error"] == (
        "Redis is not reachable (check REDIS_SENTINELS and REDIS_SENTINEL_MASTER)."
    )


def test_health_and_metrics_answer_within_seconds_while_no_master_is_known(app, client):
    # The probes give up after PROBE_RETRY_SECONDS; the app's own client would wait out a failover.
    app.config.update(REDIS_SENTINELS=(("127.0.0.1", free_port()),), REDIS_SENTINEL_MASTER=MASTER_NAME)
    app.extensions.pop("redis", None)
    started = time.monotonic()
    health = system_health()
    metrics = client.get("/metrics").get_data(as_text=True)
    assert time.monotonic() - started < 15  # two probes of about 2 s each, not 2 x 30 s
    assert health["status"] == "critical" and health["redis"] is False
    assert "No master found for 'attendance'" in " ".join(health["reasons"])
    assert "portal_redis_up 0.0" in metrics
