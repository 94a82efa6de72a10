"""Scoped management keys through the management API: a key holds some of its
creator's permissions, maybe some clusters and networks, never more than its
maker, and every request is checked against what it holds now."""

from datetime import timedelta

from django.utils import timezone

from accounts.models import Membership
from accounts.roles import ROLE_PERMISSIONS, Role
from audit.models import Action, AuditEntry
from managementkeys.models import ManagementKey
from managementkeys.services import management_key_create
from tests.conftest import make_cluster
from tests.test_api_support import (
    api_as,
    api_client,
    assert_error,
    assert_matches_spec,
    key_body,
    post_json,
    url,
)

SPEC = "management_key.v1.swagger.json"


def scoped(account, user, **scope) -> tuple[ManagementKey, object]:
    key, plaintext = management_key_create(name="scoped key", account=account, by=user, **scope)
    return key, api_client(plaintext)


def test_a_key_made_without_a_scope_follows_its_creators_role(developer, account):
    """As Qdrant Cloud's keys: no `permissions`, whatever the creator's role holds at each request."""
    created = post_json(api_as(developer, account), url("management-keys", account), {"managementKey": {}}).json()
    assert_matches_spec(created, SPEC, "v1CreateManagementKeyResponse")
    key = created["managementKey"]
    assert "permissions" not in key and key["clusterIds"] == [] and key["allowedNetworks"] == []
    client = api_client(key["key"])
    effective = client.get(url("iam-effective-permissions", account)).json()["permissions"]
    assert {p["value"] for p in effective} == ROLE_PERMISSIONS[Role.DEVELOPER]
    Membership.objects.filter(user=developer, account=account).update(role=Role.ADMIN)
    effective = client.get(url("iam-effective-permissions", account)).json()["permissions"]
    assert {p["value"] for p in effective} == ROLE_PERMISSIONS[Role.ADMIN]


def test_create_takes_a_scope_and_lists_it(owner, account, cluster):
    body = {"managementKey": {"name": "read clusters", "permissions": ["read:clusters", "read:api_keys"],
                              "clusterIds": [str(cluster.id)], "allowedNetworks": ["10.0.0.7", "2001:db8::/32"]}}
    created = post_json(api_as(owner, account), url("management-keys", account), body)
    assert created.status_code == 200, created.content
    listed = api_as(owner, account).get(url("management-keys", account)).json()
    assert_matches_spec(listed, SPEC, "v1ListManagementKeysResponse")
    item = next(i for i in listed["items"] if i["id"] == created.json()["managementKey"]["id"])
    assert item["permissions"] == ["read:clusters", "read:api_keys"]
    assert item["clusterIds"] == [str(cluster.id)]
    assert item["allowedNetworks"] == ["10.0.0.7/32", "2001:db8::/32"]
    entry = AuditEntry.objects.get(action=Action.MANAGEMENT_KEY_CREATED, target_id=item["id"])
    assert "read:clusters read:api_keys" in entry.detail and str(cluster.id) in entry.detail


def test_a_key_gets_no_permission_its_creator_lacks(developer, account):
    body = {"managementKey": {"permissions": ["read:clusters", "write:users"]}}
    assert_error(post_json(api_as(developer, account), url("management-keys", account), body), 400, 3,
                 "managementKey.permissions", "You do not hold write:users")
    assert_error(post_json(api_as(developer, account), url("management-keys", account),
                           {"managementKey": {"permissions": ["read:everything"]}}), 400, 3, "Not a permission")
    assert_error(post_json(api_as(developer, account), url("management-keys", account),
                           {"managementKey": {"permissions": []}}), 400, 3, "at least one permission")


def test_a_call_outside_the_keys_permissions_names_the_missing_one(owner, account, cluster):
    _, client = scoped(account, owner, permissions=["read:clusters"])
    assert client.get(url("clusters", account)).status_code == 200
    assert_error(post_json(client, url("database-api-keys", account), key_body(cluster)), 403, 7,
                 "write:api_keys is required", "management key scoped key")
    assert_error(client.get(url("iam-users", account)), 403, 7, "read:users")
    # ListEffectivePermissions answers what the key may do, not the whole role.
    effective = client.get(url("iam-effective-permissions", account)).json()
    assert [p["value"] for p in effective["permissions"]] == ["read:clusters"]


def test_a_creator_demoted_later_drags_the_key_down(developer, account, cluster):
    _, client = scoped(account, developer, permissions=["read:clusters", "write:api_keys"])
    assert post_json(client, url("database-api-keys", account), key_body(cluster)).status_code == 200

    Membership.objects.filter(user=developer, account=account).update(role=Role.VIEWER)
    assert_error(post_json(client, url("database-api-keys", account), key_body(cluster)), 403, 7,
                 "write:api_keys is required", "Viewer role of the management key's creator")

    # Promoted again, the key gets back what it holds, and nothing more.
    Membership.objects.filter(user=developer, account=account).update(role=Role.OWNER)
    assert post_json(client, url("database-api-keys", account), key_body(cluster)).status_code == 200
    assert_error(client.get(url("iam-users", account)), 403, 7, "read:users")


def test_a_key_limited_to_a_cluster_touches_no_other(owner, account, cluster):
    other = make_cluster(account, "other-cluster")
    _, client = scoped(account, owner, cluster_ids=[str(cluster.id)])

    listed = client.get(url("clusters", account)).json()
    assert [c["id"] for c in listed["items"]] == [str(cluster.id)]
    assert client.get(url("cluster", account, cluster_id=cluster.id)).status_code == 200
    assert_error(client.get(url("cluster", account, cluster_id=other.id)), 403, 7, str(other.id))
    assert_error(post_json(client, url("database-api-keys", account), key_body(other)), 403, 7, str(other.id))
    assert_error(client.delete(url("cluster", account, cluster_id=other.id)), 403, 7, str(other.id))
    assert_error(client.post(url("cluster-restart", account, cluster_id=other.id)), 403, 7, str(other.id))
    assert_error(post_json(client, url("clusters", account), {"cluster": {}}), 403, 7, "cannot create clusters")

    mine = post_json(client, url("database-api-keys", account), key_body(cluster))
    assert mine.status_code == 200
    theirs = post_json(api_as(owner, account), url("database-api-keys", account), key_body(other)).json()
    keys = client.get(url("database-api-keys", account)).json()["items"]
    assert [k["id"] for k in keys] == [mine.json()["databaseApiKey"]["id"]]
    theirs_id = theirs["databaseApiKey"]["id"]
    assert_error(client.delete(url("database-api-key", account, database_api_key_id=theirs_id)), 403, 7,
                 str(other.id))
    assert_error(client.post(url("database-api-key-disable", account, database_api_key_id=theirs_id)), 403, 7)
    assert_error(client.get(url("database-api-keys", account) + f"?clusterId={other.id}"), 403, 7)


def test_a_deleted_cluster_leaves_a_key_that_touches_nothing(owner, account, cluster):
    make_cluster(account, "other-cluster")
    _, client = scoped(account, owner, cluster_ids=[str(cluster.id)])
    cluster.delete()
    assert client.get(url("clusters", account)).json()["items"] == []


def test_a_key_is_refused_from_outside_its_networks(owner, account):
    key, plaintext = management_key_create(name="office key", account=account, by=owner,
                                           allowed_networks=["203.0.113.0/24"])
    inside = api_client(plaintext, REMOTE_ADDR="203.0.113.9")
    outside = api_client(plaintext, REMOTE_ADDR="198.51.100.7")
    assert inside.get(url("clusters", account)).status_code == 200
    assert_error(outside.get(url("clusters", account)), 403, 7, "may not be used from 198.51.100.7",
                 key.audit_name)
    assert_error(post_json(api_as(owner, account), url("management-keys", account),
                           {"managementKey": {"allowedNetworks": ["10.0.0.0/33"]}}), 400, 3, "allowedNetworks")


def test_a_key_makes_keys_with_no_more_than_it_has(owner, account, cluster):
    other = make_cluster(account, "other-cluster")
    soon = timezone.now() + timedelta(days=3)
    _, client = scoped(account, owner, permissions=["read:clusters", "write:management_keys"],
                       cluster_ids=[str(cluster.id)], expires_at=soon)
    create = url("management-keys", account)
    later = (soon + timedelta(days=1)).isoformat()
    refused = post_json(client, create, {"managementKey": {"permissions": ["write:users"],
                                                          "clusterIds": [str(cluster.id)]}})
    assert_error(refused, 400, 3, "does not hold write:users")
    assert_error(post_json(client, create, {"managementKey": {"clusterIds": [str(other.id)]}}), 400, 3,
                 "may not touch")
    assert_error(post_json(client, create, {"managementKey": {"clusterIds": []}}), 400, 3, "every cluster")
    assert_error(post_json(client, create, {"managementKey": {"clusterIds": [str(cluster.id)], "expiresAt": later}}),
                 400, 3, "expires no later")
    # No expiry is later than the maker's.
    assert_error(post_json(client, create, {"managementKey": {"clusterIds": [str(cluster.id)]}}), 400, 3,
                 "expires no later")
    made = post_json(client, create, {"managementKey": {"clusterIds": [str(cluster.id)],
                                                       "expiresAt": (soon - timedelta(hours=1)).isoformat()}})
    assert made.status_code == 200, made.content
    assert made.json()["managementKey"]["permissions"] == ["read:clusters", "write:management_keys"]


def test_clusters_of_another_account_cannot_be_named(owner, account, other_cluster):
    assert_error(post_json(api_as(owner, account), url("management-keys", account),
                           {"managementKey": {"clusterIds": [str(other_cluster.id)]}}), 400, 3,
                 f"No cluster with the id {other_cluster.id}")
    assert_error(post_json(api_as(owner, account), url("management-keys", account),
                           {"managementKey": {"clusterIds": ["nope"]}}), 400, 3, "not a cluster id")


def test_the_audit_log_names_the_key_that_acted(owner, account, cluster):
    key, client = scoped(account, owner, permissions=["write:api_keys"], cluster_ids=[str(cluster.id)])
    assert post_json(client, url("database-api-keys", account), key_body(cluster)).status_code == 200
    entry = AuditEntry.objects.get(action=Action.DATABASE_KEY_CREATED)
    assert entry.via_key_id == key.id and entry.actor_label == f"{key.audit_name}, a management key of {owner.username}"


def test_a_key_cannot_give_a_role_more_than_it_holds(owner, account):
    from accounts.models import CustomRole

    _, client = scoped(account, owner, permissions=["read:roles", "write:roles", "read:clusters"])
    body = {"role": {"name": "Deployers", "permissions": [{"value": p} for p in ["read:clusters", "write:clusters"]]}}
    refused = post_json(client, url("iam-roles", account), body)
    assert refused.status_code in (400, 403) and "write:clusters" in refused.json()["message"]
    assert not CustomRole.objects.exists()
    body["role"]["permissions"] = [{"value": "read:clusters"}]
    assert post_json(client, url("iam-roles", account), body).status_code == 200
