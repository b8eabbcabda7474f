"""Configuration: defaults, validation, and one clear message naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from portal.config import ConfigError, load_config
from tests.conftest import ROOT


def test_defaults_match_the_design():
    config = load_config({"FLASK_ENV": "development"}, "/tmp/instance")
    assert config["REDIS_URL"] == "redis://localhost:6379/0"
    assert config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/instance/attendance.db"
    assert config["RETRY_DELAYS_MINUTES"] == (15, 30, 60)
    assert (config["SCAN_BATCH_SIZE"], config["AUDIT_RETENTION_DAYS"]) == (5000, 90)
    assert [str(config[k]) for k in ("WARNING_THRESHOLD", "MAHROOM_THRESHOLD", "TASDIQ_THRESHOLD")] == [
        "80",
        "75",
        "85",
    ]


def test_secret_key_is_required_outside_development():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({}, "/tmp/instance")
    assert load_config({"SECRET_KEY": "x" * 32}, "/tmp/instance")["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCAN_BATCH_SIZE", "0"),
        ("SCAN_BATCH_SIZE", "many"),
        ("RETRY_DELAYS_MINUTES", "15,x"),
        ("WARNING_THRESHOLD", "120"),
        ("MAHROOM_THRESHOLD", "abc"),
        ("WARNING_THRESHOLD", "NaN"),
        ("TASDIQ_THRESHOLD", "sNaN"),
        ("ATTENDANCE_MIN_HELD_HOURS", "NaN"),
        ("ATTENDANCE_MIN_HELD_HOURS", "Infinity"),
        ("ATTENDANCE_MIN_HELD_HOURS", "-2"),
        ("MAIL_FROM", "office"),
    ],
)
def test_malformed_values_are_refused_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({"FLASK_ENV": "development", name: value}, "/tmp/instance")


def test_postgres_urls_use_the_psycopg_driver():
    config = load_config({"FLASK_ENV": "development", "DATABASE_URL": "postgres://u@h/db"}, "/tmp")
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def _flask(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "FLASK_ENV": "development", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unreachable_database_gives_one_line_naming_database_url(tmp_path):
    result = _flask("import", "students", str(ROOT / "README.md"), DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode != 0
    assert "DATABASE_URL=postgresql+psycopg://nobody@127.0.0.1:1/none" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_redis_gives_one_line_naming_redis_url(tmp_path):
    result = _flask("check", DATABASE_URL=f"sqlite:///{tmp_path}/x.db", REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode != 0
    assert "REDIS_URL='redis://127.0.0.1:1/0'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_secret_key_in_production_stops_the_cli_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr and "Traceback" not in result.stderr


def test_an_empty_mail_from_is_the_default_address():
    assert load_config({"FLASK_ENV": "development", "MAIL_FROM": " "}, "/tmp/instance")["MAIL_FROM"] == (
        "attendance-office@university.example"
    )
