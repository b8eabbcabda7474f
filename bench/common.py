"""What every benchmark needs: a private Redis, real RQ worker processes, peak-RSS sampling,
the app in this process, bounded polling and table printing. Benchmarks only (not tests).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = ROOT / ".venv" / "bin"
DEFAULT_DB = "postgresql://postgres@127.0.0.1/attendance_bench"
BENCH_REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6391"))


def load() -> str:
    """Return the 1/5/15-minute load averages (recorded with every measurement)."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine() -> str:
    """Return 'N cores, M GB' for this machine."""
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
    return f"{os.cpu_count()} cores, {kb / 1024 / 1024:.0f} GB RAM"


def wait_until(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout} s")


@contextmanager
def private_redis(port: int = BENCH_REDIS_PORT):
    """Run a throw-away redis-server on loopback ``port`` (no persistence); yield its URL."""
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        wait_until(lambda: _ping(redis, url), 10, 0.05, "redis-server start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _ping(redis, url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


def bench_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of the app under benchmark (also applied to this process)."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FLASK_ENV": "development",
        "LOG_LEVEL": "WARNING",
        "SMTP_URL": extra.pop("SMTP_URL", "smtp://127.0.0.1:2599"),
        "WEBHOOK_URL": extra.pop("WEBHOOK_URL", "http://127.0.0.1:8599/hook"),
        **extra,
    }
    os.environ.update(env)
    return {**os.environ, **env}


def make_app():
    """Return the portal app configured from the environment set by ``bench_env``."""
    from portal import create_app

    return create_app()


class RssSampler:
    """Samples the peak RSS (VmHWM) of processes and their children every 20 ms, in a thread."""

    def __init__(self) -> None:
        self.roots: dict[int, str] = {}
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, pid: int, label: str) -> None:
        self.roots[pid] = label

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def reset(self) -> None:
        self.peaks = {}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for pid, label in list(self.roots.items()):
                self._note(pid, label)
                for child in _children(pid):
                    self._note(child, f"{label} horse")

    def _note(self, pid: int, label: str) -> None:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        kb = int(line.split()[1])
                        self.peaks[label] = max(self.peaks.get(label, 0), kb)
                        return
        except OSError:
            return

    def mb(self) -> dict[str, float]:
        return {label: kb / 1024 for label, kb in sorted(self.peaks.items())}


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def self_peak_mb() -> float:
    """Return this process's peak RSS in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def rq_workers(env: dict, queues: list[str], count: int = 2, worker_class: str = "workers.worker.PortalWorker"):
    """Start ``count`` real ``rq worker`` processes on ``queues``; yield their Popen objects once
    every one has registered in Redis. They are stopped (SIGTERM, then SIGKILL) on exit."""
    import redis
    from rq import Worker

    procs = [
        subprocess.Popen(
            [str(BIN / "rq"), "worker", "--url", env["REDIS_URL"], "--worker-class", worker_class, "--quiet", *queues],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    try:
        connection = redis.Redis.from_url(env["REDIS_URL"])
        wait_until(lambda: len(Worker.all(connection=connection)) >= count, 60, 0.1, "workers registered")
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def redis_commands(url: str) -> int:
    """Return Redis's total_commands_processed (round trips are at most this many)."""
    import redis

    return int(redis.Redis.from_url(url).info("stats")["total_commands_processed"])


def median(values):
    return statistics.median(values) if values else float("nan")


def print_table(title: str, header: list[str], rows: list[list]) -> str:
    """Print (and return) a Markdown table."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)
