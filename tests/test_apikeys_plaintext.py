"""The plaintext key is shown once and written nowhere: database, logs, cache,
sessions. For database API keys and admin keys alike."""

import logging
import pickle

import pytest
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.cache import cache, caches
from django.db import connection

from apikeys.models import AdminKey, DatabaseApiKey
from tests.fixtures.apikeys import (
    admin_create_url,
    admin_form_data,
    admin_key_url,
    cluster_url,
    collections_data,
    create_url,
    form_data,
    key_url,
)


def database_text() -> str:
    """Every value of every row of every table the project's models have, as text."""
    chunks = []
    for model in apps.get_models(include_auto_created=True):
        for row in model._base_manager.values_list(*[field.attname for field in model._meta.concrete_fields]):
            chunks.extend(
                bytes(value).decode("latin-1") if isinstance(value, (bytes, memoryview)) else str(value)
                for value in row
            )
    for session in Session.objects.all():
        chunks.append(repr(session.get_decoded()))
    return "\n".join(chunks)


def cache_text() -> str:
    chunks = []
    for alias in caches:
        store = getattr(caches[alias], "_cache", {})  # LocMemCache keeps pickles in a dict
        for key, value in list(store.items()):
            chunks.append(str(key))
            chunks.append(repr(value))
            try:
                chunks.append(repr(pickle.loads(value)))
            except Exception:  # noqa: BLE001 - a value we cannot read is still scanned as bytes above
                pass
    return "\n".join(chunks)


def places_holding(token: str, caplog, client) -> list[str]:
    places = {
        "database": database_text(),
        "logs": caplog.text + "\n".join(record.getMessage() + repr(record.args) for record in caplog.records),
        "cache": cache_text(),
        "cookies": client.cookies.output(),
    }
    # The tail alone would match the stored postfix, so look for a longer piece.
    return [place for place, text in places.items() if token in text or token[:-6] in text or token[10:50] in text]


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")  # Django's own config stops its loggers at INFO
    # SQL statements and their parameters go to the log too, as under DEBUG.
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = False


def test_no_plaintext_key_is_stored_logged_or_cached(client_of, owner, cluster, everything_logged, settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    client = client_of(owner)
    tokens = []
    for data in (
        form_data(),
        form_data(cluster_access="r", expires_in_days=""),
        collections_data(("books", "r"), ("films", "rw")),
    ):
        response = client.post(create_url(cluster), data)
        assert response.status_code == 200
        tokens.append(response.context["token"])
        client.post(create_url(cluster), data)  # and a reload of the reveal page
    for key in DatabaseApiKey.objects.all():
        client.get(key_url(key))
    client.get(cluster_url(cluster))
    client.post(key_url(DatabaseApiKey.objects.first(), "delete"))

    assert DatabaseApiKey.objects.count() == 3
    assert "INSERT INTO" in everything_logged.text  # the SQL was logged, so the scan saw it
    assert Session.objects.exists()
    for token in tokens:
        assert places_holding(token, everything_logged, client) == []


def test_no_plaintext_admin_key_is_stored_logged_or_cached(
    client_of, owner, legacy_cluster, everything_logged, settings
):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    client = client_of(owner)
    secrets_shown = []
    for data in (admin_form_data(), admin_form_data(name="never expires", expires_in_days="")):
        response = client.post(admin_create_url(legacy_cluster), data, REMOTE_ADDR="203.0.113.9")
        assert response.status_code == 200
        secrets_shown.append(response.context["token"])
        client.post(admin_create_url(legacy_cluster), data)  # and a reload of the reveal page
    for key in AdminKey.objects.all():
        client.get(admin_key_url(key))
    client.get(cluster_url(legacy_cluster))
    client.post(admin_key_url(AdminKey.objects.first(), "delete"))

    assert AdminKey.objects.count() == 2
    assert "INSERT INTO" in everything_logged.text  # the SQL was logged, so the scan saw it
    assert Session.objects.exists()
    for secret in secrets_shown:
        assert places_holding(secret, everything_logged, client) == []


@pytest.mark.parametrize("kind", ["database", "admin"])
def test_the_scan_finds_a_plaintext_key_where_one_is_written(
    client_of, owner, cluster, legacy_cluster, everything_logged, kind
):
    """The scans above would fail if a key leaked: plant one in each place and see it found."""
    client = client_of(owner)
    if kind == "database":
        token = client.post(create_url(cluster), form_data()).context["token"]
    else:
        token = client.post(admin_create_url(legacy_cluster), admin_form_data()).context["token"]
    assert places_holding(token, everything_logged, client) == []

    cache.set("leak", {"token": token})
    logging.getLogger("apikeys").debug("leaked %s", token)
    type(cluster).objects.filter(id=cluster.id).update(reason=token[:-6])
    assert places_holding(token, everything_logged, client) == ["database", "logs", "cache"]
    cache.delete("leak")
