"""A data plane process applies only what changed (fronts.models.KeySetChange),
and key writes in different clusters never wait on each other.

The key store runs in this process, asking the console's views in this process, so each test
can see whether a refresh applied a change or loaded everything.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apikeys.models import DatabaseApiKey
from apikeys.services import admin_key_delete, database_key_delete
from clusters import crypto
from clusters.models import Cluster
from clusters.services import cluster_delete
from dataplane import auth
from dataplane.keystore import KeyStore
from fronts.changelog import changes_prune, keys_changed
from fronts.models import KeySetChange, KeySetEpoch
from tests.conftest import make_cluster
from tests.fixtures.apikeys import bulk_keys, make_admin_key, make_key


@pytest.fixture(autouse=True)
def no_handshake(settings):
    settings.DATAPLANE_CONFIRM_SECONDS = 0  # no data plane process here: the store is refreshed by hand


@pytest.fixture
def store(db, contract_client):
    # The process starts at a change made now. On PostgreSQL the rolled-back tests before this
    # one took thousands of ids from the log's sequence, and a process whose next change is
    # more than MAX_GAPS ids past what it applied rightly loads the whole key set instead.
    keys_changed()
    store = KeyStore(client=contract_client, poll_seconds=60, reload_seconds=600)
    store.refresh(force=True)
    return store


def admitted(store: KeyStore, token: str) -> bool:
    return isinstance(auth.authenticate(store.current, token), auth.Grant)


def test_a_created_key_is_applied_without_loading_the_key_set(store, cluster, owner):
    bulk_keys(cluster, 50)
    store.refresh(force=True)
    key, token = make_key(cluster, by=owner)
    assert not admitted(store, token)
    store.refresh()
    assert admitted(store, token)
    assert (store.loads, store.applies, store.changes) == (2, 1, 1)


def test_a_deleted_key_is_refused_even_once_its_token_was_cached(store, cluster, owner):
    key, token = make_key(cluster, by=owner)
    sibling, sibling_token = make_key(cluster, by=owner, name="sibling")
    store.refresh()
    assert admitted(store, token) and admitted(store, token)  # the second from the cache
    database_key_delete(key=key, by=owner)
    store.refresh()
    assert auth.authenticate(store.current, token) is auth.INVALID
    assert admitted(store, sibling_token)
    assert store.loads == 1


def test_an_admin_key_is_applied_and_revoked_by_its_change(store, legacy_cluster, owner):
    key, secret = make_admin_key(legacy_cluster, by=owner)
    store.refresh()
    assert admitted(store, secret)
    admin_key_delete(key=key, by=owner)
    store.refresh()
    assert auth.authenticate(store.current, secret) is auth.INVALID
    assert store.loads == 1


def test_a_deleted_cluster_takes_its_keys_with_it(store, account, cluster, owner):
    _, token = make_key(cluster, by=owner)
    other = make_cluster(account, name="other-cluster")
    _, other_token = make_key(other, by=owner)
    store.refresh()
    cluster_delete(cluster=cluster, by=owner, client_ip=None)  # revokes its keys in one update
    store.refresh()
    assert not admitted(store, token) and admitted(store, other_token)
    # The delete operation's end removes the rows themselves.
    Cluster.objects.filter(id=cluster.id).delete()
    keys_changed(cluster=cluster.id)
    store.refresh()
    assert str(cluster.id) not in store.current.clusters
    assert not store.current.cluster_database_keys.get(str(cluster.id))
    assert store.loads == 1


def test_jwt_rbac_turned_on_is_applied(store, legacy_cluster, owner):
    from dataplane.keystore import ClusterEntry

    store.refresh()
    assert store.current.clusters[str(legacy_cluster.id)].jwt_rbac is False
    Cluster.objects.filter(id=legacy_cluster.id).update(jwt_rbac=True)
    keys_changed(cluster=legacy_cluster)
    store.refresh()
    entry = store.current.clusters[str(legacy_cluster.id)]
    assert isinstance(entry, ClusterEntry) and entry.jwt_rbac is True
    legacy_cluster.refresh_from_db()
    _, token = make_key(legacy_cluster, by=owner)
    store.refresh()
    assert admitted(store, token) and store.loads == 1


def test_a_new_master_key_retires_tokens_signed_with_the_old_one(store, cluster, owner):
    _, token = make_key(cluster, by=owner)
    store.refresh()
    assert admitted(store, token)  # cached from here on
    Cluster.objects.filter(id=cluster.id).update(master_key_encrypted=crypto.encrypt(crypto.new_master_key()))
    keys_changed(cluster=cluster)
    store.refresh()
    assert auth.authenticate(store.current, token) is auth.BAD_SIGNATURE
    assert store.loads == 1


def test_a_change_that_names_nothing_loads_the_whole_key_set(store, cluster, owner):
    keys_changed()
    store.refresh()
    assert store.loads == 2 and store.applies == 0


def test_a_flushed_database_is_noticed(store, cluster, owner):
    _, token = make_key(cluster, by=owner)
    store.refresh()
    # What a flush does (the tests' between tests): every table emptied, the epoch's too.
    DatabaseApiKey.objects.all().delete()
    KeySetChange.objects.all().delete()
    KeySetEpoch.objects.all().delete()
    store.refresh()
    assert store.loads == 2 and not admitted(store, token)


def test_a_process_behind_a_pruned_log_loads_the_whole_key_set(store, cluster, owner):
    _, token = make_key(cluster, by=owner)
    _, later = make_key(cluster, by=owner, name="later key")
    assert changes_prune(before=timezone.now() + timedelta(seconds=1)) >= 2
    store.refresh()
    assert store.loads == 2 and admitted(store, token) and admitted(store, later)


def test_pruning_keeps_recent_changes(store, cluster, owner):
    _, token = make_key(cluster, by=owner)
    assert changes_prune(before=timezone.now() - timedelta(minutes=10)) == 0
    store.refresh()
    assert store.loads == 1 and admitted(store, token)


@pytest.mark.parametrize("keys", [10, 1000])
def test_applying_a_change_costs_the_same_queries_with_few_or_many_keys(store, account, owner, keys,
                                                                      django_assert_max_num_queries):
    cluster = make_cluster(account, name="busy-cluster")
    bulk_keys(cluster, keys)
    store.refresh(force=True)
    _, token = make_key(cluster, by=owner)
    # The console's side of one catch-up and its acknowledgement: the front's
    # credential and contact (twice), the epoch, the log from the last entry
    # applied on, the nodes, the key by its id: none per key.
    with django_assert_max_num_queries(10):
        store.refresh()
    assert admitted(store, token) and len(store.current.database_keys) == keys + 1


@pytest.mark.django_db(transaction=True)
def test_key_writes_in_two_clusters_commit_while_the_other_is_open(account, owner, contract_client):
    """With the one counter row this replaces, the second writer waited for
    the first to commit. Also: a change committed after a later one is applied."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises every writer")
    first_cluster = make_cluster(account, name="first-cluster")
    second_cluster = make_cluster(account, name="second-cluster")
    store = KeyStore(client=contract_client, poll_seconds=60, reload_seconds=600)
    store.refresh(force=True)
    opened, release = threading.Event(), threading.Event()
    made = {}

    def first_writer():
        try:
            with transaction.atomic():
                made["first"] = make_key(first_cluster, by=owner)
                opened.set()
                release.wait(30)
        finally:
            opened.set()
            connection.close()

    writer = threading.Thread(target=first_writer)
    writer.start()
    try:
        assert opened.wait(30) and "first" in made
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '5s'")  # waiting on the first writer fails, not hangs
            _, second_token = make_key(second_cluster, by=owner)
        assert writer.is_alive()  # the first is still open: the second did not wait for it
        store.refresh()
        assert admitted(store, second_token)
        assert store.current.gaps  # the first writer's entry: an id below the one applied, not committed yet
    finally:
        release.set()
        writer.join(30)
    store.refresh()
    assert admitted(store, made["first"][1])
    assert not store.current.gaps and store.loads == 1
    assert KeySetChange.objects.filter(kind="database").count() == 2


def test_celery_beat_prunes_old_changes(settings, cluster, owner):
    from fronts.tasks import keyset_prune_task

    make_key(cluster, by=owner)
    KeySetChange.objects.update(changed_at=timezone.now() - timedelta(minutes=11))
    recent, _ = make_key(cluster, by=owner, name="recent key")
    assert keyset_prune_task() >= 1
    assert list(KeySetChange.objects.values_list("key_id", flat=True)) == [recent.id]
    assert settings.CELERY_BEAT_SCHEDULE["prune-key-set-changes"]["task"] == keyset_prune_task.name
