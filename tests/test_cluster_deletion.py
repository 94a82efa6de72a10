"""Deleting a cluster leaves nothing of it: not its collections on disk (the
data plane removes an embedded cluster's directory, lock and all, when it sees
the cluster gone, also after being down while it was deleted; a real node's
directory is removed by the delete job), and no row that names it or one of
its keys."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone
from qdrant_client import QdrantClient, models

from apikeys.models import ExpiryReminder
from apikeys.reminders import send_expiry_reminders
from audit.models import AuditEntry
from clusters.models import Cluster
from dataplane.engine import EPOCH_FILE, Engine
from fronts.changelog import changes_prune
from fronts.models import KeySetChange
from tests.conftest import make_cluster
from tests.fixtures.dataplane import MANAGE, mint
from tests.fixtures.worker import wait_for
from tests.test_clusters_qdrant import new_cluster
from tests.test_api_support import api_as, url

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


def fill(dataplane, token, *names: str) -> None:
    client = QdrantClient(url="http://127.0.0.1", port=dataplane.port, api_key=token, timeout=10)
    for name in names:
        client.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
        client.upsert(name, [models.PointStruct(id=i, vector=[0.1, 0.2, 0.3, i], payload={"i": i}) for i in range(50)])
    client.close()


def rows_naming(*ids) -> dict[str, list[dict]]:
    """Every row of every table (but the audit log, which records the deletion
    by design) in which any of `ids` appears."""
    wanted = {str(i) for i in ids}
    found = {}
    for model in apps.get_models():
        if model is AuditEntry:
            continue
        for row in model.objects.values():
            if any(str(value) in wanted for value in row.values()):
                found.setdefault(model._meta.label, []).append(row)
    return found


def test_deleting_a_cluster_removes_its_collections_from_disk_and_every_row(worker, dataplane, owner, account):
    cluster = make_cluster(account, "doomed", number_of_nodes=1)
    kept = make_cluster(account, "kept", number_of_nodes=1)
    key, token = mint(cluster, MANAGE, by=owner, expires_at=timezone.now() + timedelta(hours=20))
    kept_key, kept_token = mint(kept, MANAGE, by=owner)
    fill(dataplane, token, "books", "films", "songs")
    fill(dataplane, kept_token, "books")
    assert send_expiry_reminders() == 1 and ExpiryReminder.objects.filter(key_id=key.id).exists()
    storage = dataplane.data_dir / "clusters" / str(cluster.id)
    assert len(list((storage / "collections").iterdir())) == 3 and (storage / "owner.lock").exists()

    response = api_as(owner, account).delete(url("cluster", account, cluster_id=cluster.id))

    assert response.status_code == 200
    wait_for(lambda: not Cluster.objects.filter(id=cluster.id).exists(), timeout=30)
    wait_for(lambda: not storage.exists(), timeout=10)
    mint(kept, MANAGE, by=owner, name="a later change")  # the change log moves on past the delete ...
    changes_prune(before=timezone.now() + timedelta(seconds=1))  # ... and is pruned as every 10 minutes
    assert rows_naming(cluster.id, key.id) == {}
    assert not KeySetChange.objects.filter(cluster_id=cluster.id).exists()
    assert AuditEntry.objects.filter(target_id=str(cluster.id), action="cluster.deleted").exists()
    # The other cluster keeps its collection.
    kept_client = QdrantClient(url="http://127.0.0.1", port=dataplane.port, api_key=kept_token, timeout=10)
    assert kept_client.count("books").count == 50
    kept_client.close()


def test_deleting_a_cluster_of_real_nodes_removes_their_directories_and_every_row(node_supervisor, owner, account):
    cluster = new_cluster(account, "doomed-nodes", 1)
    key, _token = mint(cluster, MANAGE, by=owner, expires_at=timezone.now() + timedelta(hours=20))
    assert send_expiry_reminders() == 1
    storage = node_supervisor.root / str(cluster.id)
    assert (storage / "node-0").exists()

    assert api_as(owner, account).delete(url("cluster", account, cluster_id=cluster.id)).status_code == 200

    wait_for(lambda: not Cluster.objects.filter(id=cluster.id).exists(), timeout=60)
    assert not storage.exists()
    make_cluster(account, "later")  # the change log moves on past the delete, and is pruned
    changes_prune(before=timezone.now() + timedelta(seconds=1))
    assert rows_naming(cluster.id, key.id) == {}


def test_a_cluster_deleted_while_the_data_plane_was_down_is_removed_when_it_starts(worker, dataplane, owner, account):
    cluster = make_cluster(account, "doomed", number_of_nodes=1)
    _key, token = mint(cluster, MANAGE, by=owner)
    fill(dataplane, token, "books")
    storage = dataplane.data_dir / "clusters" / str(cluster.id)
    dataplane.stop()

    api_as(owner, account).delete(url("cluster", account, cluster_id=cluster.id))
    wait_for(lambda: not Cluster.objects.filter(id=cluster.id).exists(), timeout=30)
    assert storage.exists()
    dataplane.start()

    wait_for(lambda: not storage.exists(), timeout=10)


def test_storage_last_served_under_another_database_is_kept(tmp_path):
    """A data plane started on another (or a restored) database does not know
    the clusters on disk: they are not taken for deleted."""
    elsewhere = tmp_path / "clusters" / "0b7c3f0e-1111-4111-8111-111111111111"
    (elsewhere / "collections").mkdir(parents=True)
    (elsewhere / EPOCH_FILE).write_text("the epoch of another database")
    gone = tmp_path / "clusters" / "0b7c3f0e-2222-4222-8222-222222222222"
    (gone / "collections").mkdir(parents=True)
    (gone / EPOCH_FILE).write_text("this epoch")
    engine = Engine(tmp_path, epoch=lambda: "this epoch")

    # In a thread of its own: in the whole suite the browser tests' Playwright
    # leaves an event loop running in this one, where asyncio.run refuses.
    with ThreadPoolExecutor(1) as pool:
        removed = pool.submit(asyncio.run, engine.remove_deleted(existing=(), deleted=())).result()
    assert removed == [gone.name]

    assert elsewhere.exists() and not gone.exists()
