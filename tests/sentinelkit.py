"""A real Redis Sentinel deployment on loopback: one master, one replica, three sentinels.

Debian's ``redis-server`` and ``redis-sentinel`` on free ports in a temporary directory, with a
short ``down-after-milliseconds`` so a failover takes seconds. ``kill_master()`` SIGKILLs the
master; ``wait_for_failover()`` polls the sentinels (with a deadline) until they name the
promoted replica and it answers as a master. Nothing sleeps a fixed time.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.faultkit import free_port, wait_for

MASTER_NAME = "attendance"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def require_sentinel_binaries() -> tuple[str, str]:
    """The paths of redis-server and redis-sentinel; skip the test (saying what to install) without them."""
    server, sentinel = shutil.which("redis-server"), shutil.which("redis-sentinel")
    if not server or not sentinel:
        pytest.skip("redis-sentinel is not on PATH: install Debian's redis-sentinel (apt-get install redis-sentinel)")
    return server, sentinel


def _answers(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False


class SentinelCluster:
    """One master, one replica (``--replicaof``) and three sentinels (quorum 2) on loopback."""

    def __init__(self, workdir: Path):
        self.server_bin, self.sentinel_bin = require_sentinel_binaries()
        self.workdir = workdir
        self.data_ports = [free_port(), free_port()]  # [initial master, initial replica]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.servers: dict[int, subprocess.Popen] = {}
        self.sentinels: list[subprocess.Popen] = []
        self.failover_seconds: float | None = None
        self.killed_at = 0.0

    # --- settings for the processes under test --------------------------------------------

    @property
    def sentinels_setting(self) -> str:
        """The value of REDIS_SENTINELS for this cluster."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def env(self) -> dict[str, str]:
        """The environment variables a process needs to find the master through the sentinels."""
        return {"REDIS_SENTINELS": self.sentinels_setting, "REDIS_SENTINEL_MASTER": MASTER_NAME}

    def config(self) -> dict:
        """The same as parsed app config (``portal.config.redis_settings``)."""
        from portal.config import redis_settings

        return redis_settings({"REDIS_URL": "redis://127.0.0.1/0", **self.env()})

    # --- starting and stopping ---------------------------------------------------------------

    def _start_server(self, port: int, *extra: str) -> None:
        workdir = self.workdir / f"redis-{port}"
        workdir.mkdir(exist_ok=True)
        argv = [self.server_bin, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += [
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
            "--repl-diskless-sync-delay",
            "0",
            *extra,
        ]
        self.servers[port] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _answers(Redis(port=port, socket_connect_timeout=1)), 10, f"redis-server on port {port}")

    def _start_sentinel(self, port: int) -> None:
        master_port = self.data_ports[0]
        conf = self.workdir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\nlogfile {self.workdir}/sentinel-{port}.log\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self.sentinels.append(subprocess.Popen([self.sentinel_bin, str(conf)], stdout=subprocess.DEVNULL))

    def start(self) -> SentinelCluster:
        """Start everything and wait until the replica is in sync and every sentinel sees the
        replica and the two other sentinels (else a failover could not be agreed)."""
        master, replica = self.data_ports
        self._start_server(master)
        self._start_server(replica, "--replicaof", "127.0.0.1", str(master))
        in_sync = lambda: self.data(replica).info("replication").get("master_link_status") == "up"  # noqa: E731
        wait_for(in_sync, 20, "the replica to sync")
        for port in self.sentinel_ports:
            self._start_sentinel(port)

        def all_see_each_other() -> bool:
            try:
                for port in self.sentinel_ports:
                    state = self.sentinel(port).sentinel_master(MASTER_NAME)
                    if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                        return False
                return True
            except (RedisError, OSError):
                return False

        wait_for(all_see_each_other, 30, "the three sentinels to discover the replica and each other", 0.1)
        return self

    def stop(self) -> None:
        for proc in [*self.sentinels, *self.servers.values()]:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)

    # --- looking at it ------------------------------------------------------------------------

    @staticmethod
    def data(port: int) -> Redis:
        """A plain client to the data server on ``port`` (no failover)."""
        return Redis(port=port, socket_connect_timeout=1, socket_timeout=5)

    @staticmethod
    def sentinel(port: int) -> Redis:
        return Redis(port=port, socket_connect_timeout=1, socket_timeout=2)

    def master_port(self) -> int | None:
        """The master's port as most sentinels name it now (None when they disagree or none answers)."""
        named = []
        for port in self.sentinel_ports:
            with contextlib.suppress(RedisError, OSError):
                address = self.sentinel(port).sentinel_get_master_addr_by_name(MASTER_NAME)
                if address:
                    named.append(int(address[1]))
        best = max(set(named), key=named.count) if named else None
        return best if best is not None and named.count(best) >= 2 else None

    def master(self) -> Redis:
        """A plain client to the current master."""
        port = self.master_port()
        assert port is not None, "the sentinels name no master"
        return self.data(port)

    # --- breaking it ----------------------------------------------------------------------------

    def replica_port(self) -> int:
        master = self.master_port()
        return next(port for port in self.servers if port != master)

    def cut_replication(self) -> None:
        """Cut the replica off the master's writes, as a broken link would: the master drops the
        replica's link and the replica's handshake fails from then on (a wrong ``masterauth``),
        so whatever the master does next is not on the replica when the master dies."""
        replica = self.replica_port()
        self.data(replica).config_set("masterauth", "not-the-password")
        self.master().client_kill_filter(_type="replica")
        link = lambda: self.data(replica).info("replication").get("master_link_status")  # noqa: E731
        wait_for(lambda: link() == "down", 10, "the replica's link to the master to go down")

    def kill_master(self) -> int:
        """SIGKILL the current master (no persistence: what it did not replicate is gone); return its port."""
        port = self.master_port()
        assert port is not None, "the sentinels name no master"
        proc = self.servers.pop(port)
        proc.kill()
        proc.wait(10)
        self.killed_at = time.monotonic()
        return port

    def wait_for_failover(self, old_port: int, timeout: float = 60) -> int:
        """Wait until the sentinels name a new master that answers as one; return its port and
        record in ``failover_seconds`` how long it took from the kill."""

        def promoted() -> int | None:
            port = self.master_port()
            if port is None or port == old_port:
                return None
            try:
                role = self.data(port).execute_command("ROLE")
            except (RedisError, OSError):
                return None
            return port if role and role[0] == b"master" else None

        port = wait_for(promoted, timeout, "the sentinels to promote the replica", 0.05)
        self.failover_seconds = time.monotonic() - self.killed_at
        return port
