"""Settings are parsed strictly: a bad value stops the start, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def start_with(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=os.environ | env, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DEBUG", "maybe", "DEBUG must be one of true/false"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a redis/rediss:// URL"),
        ("DATABASE_URL", "nosuchdb://x/y", "DATABASE_URL is not a database URL"),
        ("CLUSTER_KEY_ENCRYPTION_KEYS", "not-a-fernet-key", "must hold comma-separated Fernet keys"),
        ("CLUSTER_NODE_START_SECONDS", "soon", "must be a number"),
        ("CLUSTER_ENDPOINT_URL", "http://localhost:6333", "without port or path"),
        ("CLUSTER_ENDPOINT_URL", "localhost", "must be a http/https:// URL"),
        ("LOG_LEVEL", "chatty", "LOG_LEVEL must be one of"),
        ("EMAIL_URL", "smpt://mail.example.com", "EMAIL_URL must be console://"),
        ("EMAIL_URL", "smtp://user:pw@mail.example.com:twentyfive", "EMAIL_URL must be smtp://"),
        ("EMAIL_URL", "console://mail.example.com", "console:// takes nothing"),
        ("AUDIT_RETENTION_DAYS", "0", "AUDIT_RETENTION_DAYS must be a whole number of at least 1"),
        ("AUDIT_RETENTION_DAYS", "a year", "AUDIT_RETENTION_DAYS must be a whole number"),
    ],
)
def test_a_malformed_setting_stops_the_start(name, value, message):
    result = start_with(**{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_secrets_have_no_default(tmp_path):
    result = start_with(VAR_DIR=str(tmp_path), SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_defaults_start():
    assert start_with().returncode == 0
