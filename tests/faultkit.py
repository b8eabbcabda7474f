"""Real processes and servers the fault tests break on purpose: redis-server, `rq worker`
(PortalWorker), the scheduler, a webhook sink that can hold a request, and a TCP proxy that
can cut the database off. Every wait polls with a deadline; nothing sleeps a fixed time.

The fixtures built on these (``sink``, ``procs``, ``pg_procs``) are in tests/conftest.py."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from redis import Redis
from sqlalchemy import text

from portal.extensions import db
from portal.models import JobRun

ROOT = Path(__file__).resolve().parent.parent
QUEUES = ("urgent", "thresholds", "notifications", "maintenance")
MONITOR = "notification-threshold-monitor"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.02):
    """Poll ``predicate`` until it returns something truthy (returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def waiting_on_a_lock(engine) -> bool:
    """True while some PostgreSQL backend waits for a lock (a worker blocked on a row the test holds)."""
    with engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one())


def job_run(run_id: int) -> JobRun:
    """The JobRun row ``run_id`` as the database has it now (read afresh)."""
    db.session.expire_all()
    return db.session.get(JobRun, run_id)


def descendants(pid: int) -> list[int]:
    """Return the ids of every live descendant of process ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def process_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment production processes read, pointed at the test's database and Redis."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        FLASK_ENV="development",
        SECRET_KEY="test-secret",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Process:
    """A child in its own session (so SIGKILL can take its work horses too), logging to a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the process and everything it forked (an RQ worker, its scheduler and its work
        horse, which RQ moves to a session of its own)."""
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.wait(30)

    def terminate(self) -> None:
        """SIGTERM the main process only, as systemd's KillMode=mixed does."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        """Terminate if still running (fixture teardown); kill after 20 s."""
        if self.alive():
            self.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.wait(5)


def start_worker(
    database_url: str,
    redis_url: str,
    log_dir: Path,
    *queues: str,
    burst: bool = False,
    connection: Redis | None = None,
    **env: str,
) -> tuple[Process, str]:
    """Start ``rq worker -c workers.rq_settings --worker-class workers.worker.PortalWorker
    --with-scheduler`` as production does; return it and its worker name once it has registered
    in Redis (read through ``connection``, default ``redis_url``)."""
    name = f"fault-{uuid.uuid4().hex[:8]}"
    rq = str(Path(sys.executable).with_name("rq"))
    argv = [rq, "worker", "-c", "workers.rq_settings", "--worker-class", "workers.worker.PortalWorker"]
    argv += ["--name", name, "--with-scheduler", *(["--burst"] if burst else []), *(queues or QUEUES)]
    proc = Process(argv, process_env(database_url, redis_url, **env), log_dir / f"{name}.log")
    if not burst:
        redis = connection or Redis.from_url(redis_url)
        wait_for(lambda: redis.exists(f"rq:worker:{name}") or not proc.alive(), 60, f"worker {name} to register")
        assert proc.alive(), proc.log()
    return proc, name


def start_scheduler(database_url: str, redis_url: str, log_dir: Path, *args: str, **env: str) -> Process:
    """Start ``python schedules.py`` (the scheduler process of the Procfile)."""
    argv = [sys.executable, "schedules.py", *args]
    name = f"scheduler-{uuid.uuid4().hex[:6]}"
    return Process(argv, process_env(database_url, redis_url, **env), log_dir / f"{name}.log")


class RedisServer:
    """A private redis-server on a fixed port that can be killed and started again, empty."""

    def __init__(self, workdir: Path):
        self.port, self.workdir = free_port(), workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not on PATH"
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [*argv, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = Redis(port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except Exception:  # noqa: BLE001 - still starting
                return False

        wait_for(answers, 10, f"redis-server on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL: everything in memory is gone (no persistence configured)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


class WebhookSink:
    """An HTTP server on loopback that records every POSTed JSON document.

    With ``hold`` set, each request is recorded and then kept waiting (no answer) until
    ``release()``: a worker sending to it is provably between the send and its commit.
    """

    def __init__(self):
        self.documents: list[dict] = []
        self.status = 200  # the answer; documents answered with an error are not "accepted"
        self.accepted: list[dict] = []
        self.hold = False
        self.arrived = threading.Event()
        self._release = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.documents.append(json.loads(body))
                sink.arrived.set()
                if sink.hold:
                    sink._release.wait(120)
                status = sink.status
                if status == 200:
                    sink.accepted.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def release(self) -> None:
        self.hold = False
        self._release.set()

    def alert_ids(self, accepted_only: bool = False) -> list[int]:
        return [doc["alertId"] for doc in (self.accepted if accepted_only else self.documents)]

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


class TcpProxy:
    """Forwards a loopback port to ``target``; ``cut()`` drops every connection and refuses new
    ones (the database is unreachable), ``restore()`` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.cut()


class Processes:
    """The processes one test started; ``stop_all()`` (fixture teardown) stops what still runs."""

    def __init__(self, database_url: str, redis_url: str, log_dir: Path):
        self.database_url, self.redis_url, self.log_dir = database_url, redis_url, log_dir
        self.started: list[Process] = []
        # Extra environment of every process (REDIS_SENTINELS, ...) and the client that sees
        # what they register in Redis (default: ``redis_url``).
        self.env: dict[str, str] = {}
        self.connection: Redis | None = None

    def worker(self, *queues: str, burst: bool = False, **env: str) -> Process:
        proc, _ = start_worker(
            self.database_url,
            self.redis_url,
            self.log_dir,
            *queues,
            burst=burst,
            connection=self.connection,
            **{**self.env, **env},
        )
        self.started.append(proc)
        return proc

    def scheduler(self, *args: str) -> Process:
        proc = start_scheduler(self.database_url, self.redis_url, self.log_dir, *args, **self.env)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()
