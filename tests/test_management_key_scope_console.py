"""The console's create form for scoped management keys, and the list that shows their scope."""

import re

from accounts.models import Membership
from accounts.roles import ROLE_PERMISSIONS, Role
from createonce.forms import new_nonce
from managementkeys.models import ManagementKey
from managementkeys.services import management_key_create
from tests.conftest import make_cluster
from tests.test_management_keys import create_url, list_url


def post(client, account, **fields):
    data = {"nonce": new_nonce(), "name": "scoped key", "expires_in_days": "30", "cluster_scope": "all"} | fields
    return client.post(create_url(account), data)


def test_the_form_offers_only_what_the_creator_holds_all_ticked(client_of, developer, account):
    page = client_of(developer).get(create_url(account)).content.decode()
    offered = set(re.findall(r'name="permissions" value="([^"]+)"[^>]*checked', page))
    assert offered == ROLE_PERMISSIONS[Role.DEVELOPER]
    assert 'value="write:users"' not in page


def test_a_key_with_chosen_permissions_clusters_and_networks(client_of, owner, account, cluster):
    make_cluster(account, "other-cluster")
    response = post(client_of(owner), account, permissions=["read:clusters", "write:api_keys"],
                    cluster_scope="chosen", clusters=[str(cluster.id)], allowed_networks="203.0.113.0/24\n10.0.0.7")
    assert response.status_code == 200, response.content.decode()[:2000]
    key = ManagementKey.objects.get()
    assert key.permissions == ["read:clusters", "write:api_keys"]
    assert key.cluster_ids == [str(cluster.id)]
    assert key.allowed_networks == ["203.0.113.0/24", "10.0.0.7/32"]

    row = re.search(rf'<tr data-key-id="{key.id}">.*?</tr>', client_of(owner).get(list_url(account)).content.decode(),
                    re.S)[0]
    assert "2 permissions · 1 cluster · 2 networks" in row and cluster.name in row and "203.0.113.0/24" in row


def test_a_forged_permission_is_refused_next_to_the_field(client_of, developer, account):
    response = post(client_of(developer), account, permissions=["read:clusters", "write:users"])
    page = response.content.decode()
    assert response.status_code == 400 and not ManagementKey.objects.exists()
    assert 'id="id_permissions-error"' in page and "write:users is not a permission you hold" in page


def test_no_permission_or_no_cluster_is_refused(client_of, owner, account, cluster):
    none = post(client_of(owner), account)
    assert none.status_code == 400 and "Choose at least one permission." in none.content.decode()
    no_cluster = post(client_of(owner), account, permissions=["read:clusters"], cluster_scope="chosen")
    assert no_cluster.status_code == 400 and 'id="id_clusters-error"' in no_cluster.content.decode()
    bad_network = post(client_of(owner), account, permissions=["read:clusters"], allowed_networks="10.0.0.0/33")
    assert bad_network.status_code == 400 and 'id="id_allowed_networks-error"' in bad_network.content.decode()
    assert not ManagementKey.objects.exists()


def test_the_list_flags_permissions_the_creators_role_lost(client_of, owner, developer, account):
    key, _ = management_key_create(name="deploy key", account=account, by=developer,
                                   permissions=["read:clusters", "write:api_keys"])
    Membership.objects.filter(user=developer, account=account).update(role=Role.VIEWER)
    row = re.search(rf'<tr data-key-id="{key.id}">.*?</tr>', client_of(owner).get(list_url(account)).content.decode(),
                    re.S)[0]
    assert "Limited by its creator&#x27;s role" in row or "Limited by its creator's role" in row
    assert re.search(r'<code class="struck"[^>]*>write:api_keys</code>', row)
    assert not re.search(r'<code class="struck"[^>]*>read:clusters</code>', row)


def test_the_command_makes_a_scoped_key_and_refuses_more_than_the_user_holds(developer, account, cluster):
    from io import StringIO

    import pytest
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="You do not hold write:users"):
        call_command("create_management_key", "--account", account.name, "--user", developer.username,
                     "--permission", "write:users", stdout=StringIO())
    call_command("create_management_key", "--account", account.name, "--user", developer.username,
                 "--permission", "read:clusters", "--cluster", str(cluster.id), "--allowed-network", "10.0.0.0/8",
                 stdout=StringIO())
    key = ManagementKey.objects.get()
    assert (key.permissions, key.cluster_ids, key.allowed_networks) == (["read:clusters"], [str(cluster.id)],
                                                                        ["10.0.0.0/8"])
