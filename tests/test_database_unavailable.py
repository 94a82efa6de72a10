"""A database that is locked or unreachable is 503, not 500: UNAVAILABLE (14)
in the management API's shape, and a 503 page in the console."""

import sqlite3
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connection
from django.urls import reverse

from tests.test_api_support import api_as, assert_error, url


@contextmanager
def database_down():
    """Inside it, every query fails as a locked or unreachable database does."""

    def fail(*args, **kwargs):
        raise OperationalError("database is locked")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.backends.utils.CursorWrapper.execute", fail)
        patch.setattr("django.db.backends.utils.CursorWrapper.executemany", fail)
        yield


def test_the_api_answers_503_unavailable(owner, account):
    client = api_as(owner, account)
    with database_down():
        response = client.get(url("clusters", account))
    assert_error(response, 503, 14, "database is unavailable")
    assert response["Retry-After"] == "5"


def test_a_console_page_is_a_503_page(client_of, owner, account):
    client = client_of(owner)
    with database_down():
        response = client.get(reverse("clusters:list", kwargs={"account_id": account.id}))
    assert response.status_code == 503
    assert "database is unavailable" in response.content.decode()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a real SQLite lock")
@pytest.mark.django_db(transaction=True)
def test_a_really_locked_sqlite_file_is_503(owner, account):
    client = api_as(owner, account)
    connection.close()
    timeout = connection.settings_dict["OPTIONS"]["timeout"]
    connection.settings_dict["OPTIONS"]["timeout"] = 0.2  # not the 20 s of production
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        assert_error(client.get(url("clusters", account)), 503, 14)
    finally:
        other.execute("ROLLBACK")
        other.close()
        connection.close()
        connection.settings_dict["OPTIONS"]["timeout"] = timeout
