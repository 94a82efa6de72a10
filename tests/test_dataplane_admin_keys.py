"""Admin keys open their own cluster with global manage access."""

import httpx

from apikeys.services import admin_key_create, admin_key_delete
from clusters.models import Cluster
from fronts.changelog import keys_changed
from tests.fixtures.dataplane import http_get


def test_an_admin_key_manages_its_own_cluster_only(dataplane, legacy_cluster, other_cluster, owner):
    _, secret = admin_key_create(cluster=legacy_cluster, name="admin key", expires_at=None, by=owner)
    dataplane.wait_until_accepted(secret)
    response = httpx.put(f"{dataplane.url}/collections/books", headers={"api-key": secret},
                         json={"vectors": {"size": 2, "distance": "Dot"}})
    assert response.status_code == 200
    response = httpx.get(f"{dataplane.url}/collections", headers={"api-key": secret,
                                                                  "host": f"{other_cluster.id}.localhost"})
    assert (response.status_code, response.text) == (401, "Invalid API key or JWT")


def test_an_admin_key_survives_granular_access_and_stops_when_deleted(dataplane, legacy_cluster, owner):
    key, secret = admin_key_create(cluster=legacy_cluster, name="admin key", expires_at=None, by=owner)
    dataplane.wait_until_accepted(secret)
    Cluster.objects.filter(id=legacy_cluster.id).update(jwt_rbac=True)  # as the restart does when it finishes
    keys_changed()  # returns once the data plane has reloaded
    assert http_get(dataplane.url + "/", {"api-key": secret})[0] == 200
    admin_key_delete(key=key, by=owner)
    assert http_get(dataplane.url + "/", {"api-key": secret})[0] == 401
