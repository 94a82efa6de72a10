"""The front's own settings (dataplane/settings.py): nothing of the console, and
a missing or malformed one stops the start with a message naming it."""

import os
import subprocess
import sys

import pytest

from tests.fixtures.dataplane import ROOT
from tests.fixtures.tls import make_certificates


def start(**overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEYSET_", "DATAPLANE_"))} | overrides
    return subprocess.run([sys.executable, "-m", "dataplane"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("overrides, message", [
    ({}, "KEYSET_URL (the console's address) and KEYSET_CREDENTIAL"),
    ({"KEYSET_URL": "http://127.0.0.1:1"}, "KEYSET_URL (the console's address) and KEYSET_CREDENTIAL"),
    ({"KEYSET_URL": "console:8000"}, "KEYSET_URL must be a http/https:// URL with a host; got 'console:8000'."),
    ({"DATAPLANE_PORT": "70000"}, "DATAPLANE_PORT must be a whole number from 1 to 65535; got '70000'."),
    ({"DATAPLANE_PORT": "6333.0"}, "DATAPLANE_PORT must be a whole number from 1 to 65535; got '6333.0'."),
    ({"DATAPLANE_MAX_BODY_BYTES": "1e9"}, "DATAPLANE_MAX_BODY_BYTES must be a whole number"),
    ({"DATAPLANE_LOG_LEVEL": "chatty"}, "DATAPLANE_LOG_LEVEL must be one of"),
    ({"KEYSET_CA_FILE": "/nonexistent/ca.pem"}, "KEYSET_CA_FILE names no file: '/nonexistent/ca.pem'."),
    ({"KEYSET_CA_FILE": str(ROOT / "README.md")}, f"KEYSET_CA_FILE holds no PEM certificate: '{ROOT / 'README.md'}'."),
    ({"TRUSTED_PROXIES": "10.0.0.1/8"}, "TRUSTED_PROXIES must hold comma-separated CIDRs"),
    ({"DATAPLANE_STORAGE_PORT": "6333"}, "DATAPLANE_STORAGE_PORT must differ from the front's other ports."),
    ({"DATAPLANE_STORAGE_PORT": "6335", "DATAPLANE_HOST": "0.0.0.0"}, "DATAPLANE_STORAGE_ADDRESS must be set"),
    ({"DATAPLANE_STORAGE_ADDRESS": "front-a:6335"}, "DATAPLANE_STORAGE_ADDRESS is set but DATAPLANE_STORAGE_PORT"),
    ({"DATAPLANE_STORAGE_PORT": "6335", "DATAPLANE_STORAGE_ADDRESS": "front-a"},
     "DATAPLANE_STORAGE_ADDRESS must be host:port; got 'front-a'."),
])
def test_a_missing_or_malformed_setting_stops_the_front_with_a_message_naming_it(overrides, message):
    started = start(**overrides)
    assert started.returncode == 1
    assert started.stderr.strip().splitlines()[-1].startswith(f"The data plane cannot start: {message}")


def test_a_ca_file_for_a_plain_http_console_stops_the_front(tmp_path):
    """The operator meant TLS: the credential and the key set would travel in the clear."""
    ca_file = make_certificates(tmp_path, ["127.0.0.1"]).ca_file
    started = start(KEYSET_URL="http://127.0.0.1:1", KEYSET_CREDENTIAL="x", KEYSET_CA_FILE=str(ca_file))
    assert started.returncode == 1
    assert started.stderr.strip().splitlines()[-1] == (
        "The data plane cannot start: KEYSET_CA_FILE is set but KEYSET_URL is not https://: 'http://127.0.0.1:1' "
        "would carry the credential and the key set in the clear.")
