"""API_KEY_PEPPERS: parsed strictly, generated into var/secrets.env, appended to old files."""

import os
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured

from console.env import Env, _read_env_file
from console.secrets_file import write_secrets_file

PEPPER = "p" * 32


def peppers(monkeypatch, value: str) -> dict[int, str]:
    monkeypatch.setenv("API_KEY_PEPPERS", value)
    return Env().peppers("API_KEY_PEPPERS")


def test_peppers_are_id_secret_pairs(monkeypatch):
    assert peppers(monkeypatch, f"1:{PEPPER}, 2:{'q' * 40}") == {1: PEPPER, 2: "q" * 40}


@pytest.mark.parametrize(
    "value, message",
    [
        (PEPPER, "id:secret pairs"),
        (f"one:{PEPPER}", "id:secret pairs"),
        (f"0:{PEPPER}", "id:secret pairs"),
        (f"-1:{PEPPER}", "id:secret pairs"),
        (f"1:{PEPPER},1:{PEPPER}", "twice"),
        ("1:short", "at least 32 characters"),
        (" , ", "at least one"),
    ],
)
def test_a_malformed_pepper_setting_stops_start_up(monkeypatch, value, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        peppers(monkeypatch, value)


def test_without_peppers_the_console_does_not_start(monkeypatch, tmp_path):
    monkeypatch.delenv("API_KEY_PEPPERS", raising=False)
    with pytest.raises(ImproperlyConfigured, match="API_KEY_PEPPERS must be set"):
        Env(secrets_file=tmp_path / "missing.env").peppers("API_KEY_PEPPERS")


def test_a_new_secrets_file_has_every_secret_and_valid_peppers(tmp_path, monkeypatch):
    monkeypatch.delenv("API_KEY_PEPPERS", raising=False)
    path = tmp_path / "secrets.env"
    assert "API_KEY_PEPPERS" in write_secrets_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    values = _read_env_file(path)
    assert set(values) == {"SECRET_KEY", "CLUSTER_KEY_ENCRYPTION_KEYS", "DEMO_PASSWORD", "API_KEY_PEPPERS"}
    parsed = Env(secrets_file=path).peppers("API_KEY_PEPPERS")
    assert list(parsed) == [1] and len(parsed[1]) >= 43  # 32 random bytes


def test_an_older_secrets_file_gains_the_peppers_and_keeps_its_values(tmp_path):
    path = tmp_path / "secrets.env"
    old = "# old\nSECRET_KEY=keep-me\nCLUSTER_KEY_ENCRYPTION_KEYS=keep-this-too\nDEMO_PASSWORD=pw"  # no final newline
    path.write_text(old)
    assert write_secrets_file(path) == ["API_KEY_PEPPERS"]
    text = path.read_text()
    assert text.startswith(old + "\n")
    values = _read_env_file(path)
    assert values["SECRET_KEY"] == "keep-me" and values["CLUSTER_KEY_ENCRYPTION_KEYS"] == "keep-this-too"
    assert values["API_KEY_PEPPERS"].startswith("1:")
    assert write_secrets_file(path) == [] and path.read_text() == text  # a second run changes nothing
