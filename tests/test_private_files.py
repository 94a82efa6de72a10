"""var/ (sessions, key digests, encrypted master keys) is owner-only: the
directory 0700, what the console creates in it 0600. The real start in
test_settings.py checks the SQLite file a migrate creates."""

import os
import sqlite3
import stat

from django.conf import settings

from console.private import make_private


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_old_install_is_made_owner_only(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    (var / "console.sqlite3").write_text("")
    (var / "console.sqlite3").chmod(0o644)
    (var / "broker").mkdir()
    (var / "broker").chmod(0o755)
    make_private(var)
    assert (mode(var), mode(var / "console.sqlite3"), mode(var / "broker")) == (0o700, 0o600, 0o700)


def test_what_a_console_process_creates_is_0600(tmp_path):
    var = tmp_path / "fresh"
    make_private(var)
    assert mode(var) == 0o700
    sqlite3.connect(var / "db.sqlite3").execute("create table t (x)").connection.close()
    (var / "dataplane").mkdir()
    assert mode(var / "db.sqlite3") == 0o600 and mode(var / "dataplane") == 0o700


def test_a_shared_sticky_directory_is_left_alone(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    make_private(shared)
    assert mode(shared) == 0o1777


def test_this_processes_var_is_private():
    # Settings ran make_private on the real VAR_DIR as this test process started.
    assert mode(settings.VAR_DIR) == 0o700
    if settings.BROKER_DIR.exists():  # the filesystem broker, without REDIS_URL
        assert mode(settings.BROKER_DIR) == 0o700
    assert os.umask(0o077) == 0o077
