"""The deployment files stay in step with the Procfile: same processes, same commands."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_PROCESSES = ("web", "worker", "scheduler")


def procfile(name: str = "Procfile") -> dict[str, str]:
    entries = {}
    for line in (ROOT / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            process, command = line.split(":", 1)
            entries[process.strip()] = command.strip()
    return entries


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_command(service: dict) -> str:
    """The command a compose service runs, as the Procfile would write it."""
    command = service["command"]
    assert command[:2] == ["sh", "-c"], "app services run their Procfile command through a shell"
    shell_line = command[2].replace("$$", "$")
    return shell_line.removeprefix("exec ")


def without_bind(argv: list[str]) -> list[str]:
    if "--bind" in argv:
        i = argv.index("--bind")
        return argv[:i] + argv[i + 2 :]
    return argv


def test_compose_file_parses_and_has_every_process_of_the_system():
    services = compose()["services"]
    assert {"web", "worker", "scheduler", "redis", "postgres"} <= services.keys()
    assert set(procfile()) == set(APP_PROCESSES)


@pytest.mark.parametrize("process", APP_PROCESSES)
def test_compose_runs_the_same_command_as_the_procfile(process):
    assert compose_command(compose()["services"][process]) == procfile()[process]


def test_compose_redis_keeps_an_append_only_file_and_two_workers_run():
    services = compose()["services"]
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert services["worker"]["deploy"]["replicas"] == 2
    for process in APP_PROCESSES:
        env = services[process]["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0" and env["DATABASE_URL"].startswith("postgresql://")


def test_web_and_the_workers_share_the_uploads_volume_at_the_default_upload_folder():
    """An upload written by web is read by whichever worker imports it (another container)."""
    services = compose()["services"]
    assert "uploads" in compose()["volumes"]
    for process in ("web", "worker"):
        assert "uploads:/app/instance/uploads" in services[process]["volumes"]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "mkdir -p instance/uploads && chown -R attendance instance" in dockerfile
    assert "-D messages" in dockerfile  # the pages' own catalogs (Dari), not only the letters'


def unit_exec_start(filename: str) -> list[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(ROOT / "deploy" / "systemd" / filename)
    argv = shlex.split(parser["Service"]["ExecStart"])
    argv[0] = Path(argv[0]).name
    return argv


@pytest.mark.parametrize(
    ("process", "unit"),
    [
        ("web", "attendance-web.service"),
        ("worker", "attendance-worker@.service"),
        ("scheduler", "attendance-scheduler.service"),
    ],
)
def test_systemd_units_run_the_procfile_commands(process, unit):
    # systemd cannot expand ${PORT:-8000}: the web unit binds a fixed address; the rest is identical.
    assert without_bind(unit_exec_start(unit)) == without_bind(shlex.split(procfile()[process]))


def test_development_procfile_runs_the_same_worker_and_scheduler():
    dev = procfile("Procfile.dev")
    for process in ("worker", "scheduler"):
        argv = shlex.split(dev[process])
        argv[0] = Path(argv[0]).name
        assert argv == shlex.split(procfile()[process])
