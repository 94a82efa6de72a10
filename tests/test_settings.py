"""Settings are parsed strictly: a bad value stops the start, naming the variable.

The parser (console/env.py) and the settings module that uses it are run
in-process, in a fresh namespace per case; one real `manage.py migrate` proves
a start with the defaults works end to end (and that var/ comes out private).
"""

import os
import runpy
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from console.env import Env

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "console" / "settings.py"
SECRETS = {
    "SECRET_KEY": "s" * 50,
    "CLUSTER_KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "API_KEY_PEPPERS": "1:" + "p" * 40,
}


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """A clean environment with this install's secrets and a var/ of its own."""
    for name in list(os.environ):
        if name in SECRETS or name.startswith(("DATAPLANE_", "CLUSTER_", "LOGIN_", "MANAGEMENT_KEY_")) or name in (
            "DEBUG", "REDIS_URL", "DATABASE_URL", "LOG_LEVEL", "ALLOWED_HOSTS", "TRUSTED_PROXIES", "HOST", "PORT",
            "CONSOLE_URL",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)

    def load(**env) -> dict:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS))

    return load


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DEBUG", "maybe", "DEBUG must be one of true/false"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a redis/rediss:// URL"),
        ("DATABASE_URL", "nosuchdb://x/y", "DATABASE_URL is not a database URL"),
        ("CLUSTER_KEY_ENCRYPTION_KEYS", "not-a-fernet-key", "must hold comma-separated Fernet keys"),
        ("API_KEY_PEPPERS", "1:short", "must be at least 32 characters"),
        ("API_KEY_PEPPERS", "x:" + "p" * 40, "id:secret pairs"),
        ("CLUSTER_NODE_START_SECONDS", "soon", "must be a number"),
        ("CLUSTER_NODE_START_SECONDS", "-1", "must not be negative"),
        ("CLUSTER_ENDPOINT_URL", "http://localhost:6333", "without port or path"),
        ("CLUSTER_ENDPOINT_URL", "localhost", "must be a http/https:// URL"),
        ("LOG_LEVEL", "chatty", "LOG_LEVEL must be one of"),
        ("DATAPLANE_PORT", "70000", "DATAPLANE_PORT must be a whole number from 1 to 65535"),
        ("DATAPLANE_GRPC_PORT", "grpc", "DATAPLANE_GRPC_PORT must be a whole number from 1 to 65535"),
        ("DATAPLANE_PORT", "6333.0", "DATAPLANE_PORT must be a whole number from 1 to 65535"),
        ("PORT", "http", "PORT must be a whole number from 1 to 65535"),
        ("PORT", "0", "PORT must be a whole number from 1 to 65535"),
        ("CONSOLE_URL", "console.example.com", "CONSOLE_URL must be a http/https:// URL"),
        ("DATAPLANE_GRPC_PORT", "6334.5", "DATAPLANE_GRPC_PORT must be a whole number from 1 to 65535"),
        ("DATAPLANE_GRPC_PORT", "6333", "DATAPLANE_GRPC_PORT must differ from DATAPLANE_PORT"),
        ("DATAPLANE_METRICS_PORT", "metrics", "DATAPLANE_METRICS_PORT must be a whole number from 0 to 65535"),
        ("DATAPLANE_METRICS_PORT", "8000", "DATAPLANE_METRICS_PORT must differ from DATAPLANE_PORT, DATAPLANE_GRPC"),
        ("LOGIN_FAILURE_LIMIT", "ten", "LOGIN_FAILURE_LIMIT must be a whole number"),
        ("LOGIN_LOCKOUT_MINUTES", "0", "LOGIN_LOCKOUT_MINUTES must be a whole number from 1"),
        ("MANAGEMENT_KEY_FAILURE_LIMIT", "2.5", "MANAGEMENT_KEY_FAILURE_LIMIT must be a whole number"),
        ("EMAIL_URL", "smpt://mail.example.com", "EMAIL_URL must be console://"),
        ("EMAIL_URL", "smtp://user:pw@mail.example.com:twentyfive", "EMAIL_URL must be smtp://"),
        ("EMAIL_URL", "console://mail.example.com", "console:// takes nothing"),
        ("AUDIT_RETENTION_DAYS", "0", "AUDIT_RETENTION_DAYS must be a whole number of at least 1"),
        ("AUDIT_RETENTION_DAYS", "a year", "AUDIT_RETENTION_DAYS must be a whole number"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, proxy.example", "TRUSTED_PROXIES must hold comma-separated CIDRs .*'proxy"),
        ("TRUSTED_PROXIES", "10.0.0.1/8", "TRUSTED_PROXIES must hold .*'10.0.0.1/8': 10.0.0.1/8 has host bits set"),
        ("TRUSTED_PROXIES", "2001:db8::/200", "TRUSTED_PROXIES must hold .*'2001:db8::/200'"),
        ("SIGNUP", "anyone", "SIGNUP must be one of"),
        ("REAUTHENTICATION_MINUTES", "0", "REAUTHENTICATION_MINUTES must be a whole number from 1"),
        ("OIDC_ISSUER_URL", "idp.example.com", "OIDC_ISSUER_URL must be a https/http:// URL"),
        ("OIDC_JOIN_ROLE", "boss", "OIDC_JOIN_ROLE must be one of"),
        ("QDRANT_NODE_PORTS", "20000", "QDRANT_NODE_PORTS must be LOW-HIGH with 1024 <= LOW <= HIGH <= 65535"),
        ("QDRANT_NODE_PORTS", "30000-20000", "QDRANT_NODE_PORTS must be LOW-HIGH"),
        ("QDRANT_NODE_PORTS", "80-90", "QDRANT_NODE_PORTS must be LOW-HIGH"),
    ],
)
def test_a_malformed_setting_stops_the_start(environment, name, value, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(")):
        environment(**{name: value})


def test_secrets_have_no_default(environment, monkeypatch):
    monkeypatch.delenv("SECRET_KEY")
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY must be set"):
        environment()


def test_secrets_come_from_the_file_when_not_in_the_environment(environment, monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secrets.env").write_text("# comment\nSECRET_KEY = from-the-file\n")
    assert environment()["SECRET_KEY"] == "from-the-file"


def test_the_defaults(environment, tmp_path):
    settings = environment()
    assert settings["DEBUG"] is False
    assert settings["DATABASES"]["default"]["NAME"] == str(tmp_path / "var" / "console.sqlite3")
    assert settings["CELERY_BROKER_URL"] == "filesystem://localhost//"
    assert (settings["LOGIN_FAILURE_LIMIT"], settings["LOGIN_LOCKOUT_MINUTES"]) == (10, 15)
    assert settings["MANAGEMENT_KEY_FAILURE_LIMIT"] == 20
    assert settings["CLUSTER_ENDPOINT_URL"] == "http://localhost"


def test_good_values_are_read(environment):
    settings = environment(
        DEBUG="on", REDIS_URL="redis://127.0.0.1:6379/3", LOGIN_FAILURE_LIMIT="5", DATAPLANE_PORT="7000",
        ALLOWED_HOSTS=" a.example , b.example ,", CLUSTER_ENDPOINT_URL="https://{id}.clusters.example.com/",
    )
    assert settings["DEBUG"] is True and settings["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/3"
    assert (settings["AXES_FAILURE_LIMIT"], settings["DATAPLANE_PORT"]) == (5, 7000)
    assert settings["ALLOWED_HOSTS"] == ["a.example", "b.example"]
    assert settings["CLUSTER_ENDPOINT_URL"] == "https://{id}.clusters.example.com"


def test_where_make_run_listens_is_a_setting(environment):
    # The front's log level is the front's own setting (tests/test_dataplane_settings.py).
    assert (environment()["RUN_HOST"], environment()["RUN_PORT"]) == ("127.0.0.1", 8000)
    settings = environment(HOST="0.0.0.0", PORT="8080", CONSOLE_URL="https://console.example.com/")
    assert (settings["RUN_HOST"], settings["RUN_PORT"]) == ("0.0.0.0", 8080)
    assert settings["CONSOLE_URL"] == "https://console.example.com"


def test_make_run_s_front_serves_metrics_on_loopback_unless_told_otherwise(environment):
    settings = environment()
    assert (settings["DATAPLANE_METRICS_HOST"], settings["DATAPLANE_METRICS_PORT"]) == ("127.0.0.1", 9464)
    assert environment(DATAPLANE_METRICS_PORT="0")["DATAPLANE_METRICS_PORT"] == 0  # none


def test_trusted_proxies_are_none_by_default_and_read_as_networks(environment):
    import ipaddress

    assert environment()["TRUSTED_PROXIES"] == ()
    settings = environment(TRUSTED_PROXIES="10.0.0.0/8, 2001:db8::/32,192.0.2.7")
    assert settings["TRUSTED_PROXIES"] == tuple(
        ipaddress.ip_network(n) for n in ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"))


@pytest.mark.parametrize("value, expected", [("1", True), ("YES", True), ("off", False), ("0", False), ("", False)])
def test_booleans(monkeypatch, value, expected):
    monkeypatch.setenv("SOME_FLAG", value)
    assert Env().bool("SOME_FLAG", default=False) is expected


@pytest.mark.parametrize("value", ["-1", "1e3", " ", "0x10", "11"])
def test_whole_numbers_are_strict(monkeypatch, value):
    monkeypatch.setenv("SOME_COUNT", value)
    with pytest.raises(ImproperlyConfigured, match="SOME_COUNT must be a whole number from 1 to 10"):
        Env().int("SOME_COUNT", default=3, low=1, high=10)


def test_one_real_start_with_the_defaults_migrates_into_a_private_var(tmp_path):
    """The one subprocess: `manage.py migrate` on a fresh var/, as `make run` does."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env |= SECRETS | {"VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    var = tmp_path / "var"
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    assert stat.S_IMODE((var / "console.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE((var / "broker").stat().st_mode) == 0o700


def test_an_unusable_qdrant_binary_stops_the_start(environment, tmp_path):
    not_executable = tmp_path / "qdrant"
    not_executable.write_text("")
    for value in (str(tmp_path / "missing"), str(not_executable), str(tmp_path)):
        with pytest.raises(ImproperlyConfigured, match="QDRANT_BINARY must be the path of an executable file"):
            environment(QDRANT_BINARY=value)


def test_the_runtime_of_new_clusters_follows_the_qdrant_binary(environment, monkeypatch, tmp_path):
    binary = tmp_path / "bin" / "qdrant"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.delenv("QDRANT_BINARY", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert environment()["CLUSTER_RUNTIME"] == "embedded"
    given = environment(QDRANT_BINARY=str(binary))
    assert (given["CLUSTER_RUNTIME"], given["QDRANT_BINARY"]) == ("qdrant", str(binary))
    monkeypatch.delenv("QDRANT_BINARY")
    monkeypatch.setenv("PATH", str(binary.parent))
    assert environment()["QDRANT_BINARY"] == str(binary)  # a qdrant on PATH


# Where the console reads os.environ other than console/env.py, and why that is no setting.
ENVIRONMENT_READERS = {
    # DJANGO_SETTINGS_MODULE, set before settings exist.
    "manage.py": "setdefault", "console/asgi.py": "setdefault", "console/wsgi.py": "setdefault",
    "console/celery.py": "setdefault",
    # The whole environment handed to a child process, not one variable read.
    "console/management/commands/runall.py": "the front's environment",
    "runtimes/qdrant.py": "a node's environment, QDRANT_* removed",
    # A command-line tool below the console (runtimes may not import console.env): its --binary default.
    "runtimes/supervisor.py": "QDRANT_BINARY and DJANGO_SETTINGS_MODULE, as a standalone tool",
}


def _environment_readers(paths) -> set[str]:
    """The files among `paths` that name os.environ, os.getenv or os.environb."""
    import ast

    readers = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                    and node.attr in ("environ", "getenv", "environb"):
                readers.add(path.relative_to(ROOT).as_posix())
    return readers


def test_the_console_reads_its_settings_only_through_env_py():
    """console/env.py is the one reader of the console's environment: a setting read
    anywhere else would skip its strict parsing and the configuration table."""
    # Not the front nor its contract (the test below), tests or benchmarks.
    skipped = {"node_modules", "var", "tests", "bench", "dataplane", "keyset"}
    tops = [p for p in ROOT.iterdir() if not p.name.startswith(".") and p.name not in skipped]
    paths = [p for top in tops for p in ([top] if top.suffix == ".py" else top.rglob("*.py") if top.is_dir() else [])]
    assert _environment_readers(paths) - {"console/env.py"} == set(ENVIRONMENT_READERS)


def test_the_front_reads_its_settings_only_through_its_settings_module():
    """dataplane/settings.py is the one reader of the front's environment (keyset/ reads none):
    each value is checked there, at the start, with a message naming the variable."""
    paths = [p for top in ("dataplane", "keyset") for p in (ROOT / top).rglob("*.py")]
    assert _environment_readers(paths) == {"dataplane/settings.py", *FRONT_ENVIRONMENT_WRITERS}


# Where the front names os.environ other than its settings, and why that is no setting.
FRONT_ENVIRONMENT_WRITERS = {
    "dataplane/storage_process.py": "emptied of all but PATH, HOME and the locale while the storage server starts",
    "dataplane/server.py": "GRPC_EXPERIMENTS given to grpc core unless the operator set it: grpc's, not ours",
}
