"""The API Keys page: create a key with a cluster picker, and filter the
list by cluster, kind and state."""

import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from apikeys.models import DatabaseApiKey
from tests.conftest import make_cluster
from tests.fixtures.apikeys import account_keys_url, make_key, stored_admin_key


def picker_url(account, **query) -> str:
    base = reverse("apikeys:account-create", kwargs={"account_id": account.id})
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def names(html: str) -> list[str]:
    return sorted(re.findall(r'<tr data-(?:admin-)?key-id="[^"]+">\s*<td><a href="[^"]+">([^<]+)</a>', html))


def test_the_picker_lists_the_accounts_clusters_and_leads_to_the_clusters_form(client_of, owner, cluster, other_cluster):
    client = client_of(owner)
    page = client.get(picker_url(cluster.account)).content.decode()
    assert "prod-search" in page and "their-cluster" not in page
    response = client.get(picker_url(cluster.account, cluster=cluster.id))
    assert response.status_code == 302
    assert response.url == reverse("apikeys:create", kwargs={"account_id": cluster.account_id, "cluster_id": cluster.id})


def test_a_legacy_cluster_leads_to_the_admin_key_form(client_of, owner, account):
    from datetime import datetime, UTC

    legacy = make_cluster(account, name="old-one", version="v1.12.6", created_at=datetime(2024, 11, 5, tzinfo=UTC))
    response = client_of(owner).get(picker_url(account, cluster=legacy.id))
    assert response.url == reverse("apikeys:admin-create", kwargs={"account_id": account.id, "cluster_id": legacy.id})


def test_the_picker_refuses_another_accounts_cluster(client_of, owner, account, cluster, other_cluster):
    response = client_of(owner).get(picker_url(account, cluster=other_cluster.id))
    assert response.status_code == 400 and "Choose a cluster of this account." in response.content.decode()


def test_a_viewer_gets_no_picker(client_of, viewer, account, cluster):
    client = client_of(viewer)
    assert client.get(picker_url(account)).status_code == 403
    assert "account-create" not in client.get(account_keys_url(account)).content.decode()


def test_the_list_filters_by_cluster_kind_and_state(client_of, owner, account, cluster):
    from datetime import datetime, UTC

    other = make_cluster(account, name="staging")
    legacy = make_cluster(account, name="old-one", version="v1.12.6", created_at=datetime(2024, 11, 5, tzinfo=UTC))
    make_key(cluster, by=owner, name="prod reader")
    stale = make_key(cluster, by=owner, name="prod stale")[0]
    DatabaseApiKey.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(days=1))
    make_key(other, by=owner, name="staging writer")
    stored_admin_key(legacy, name="legacy admin")
    client = client_of(owner)
    url = account_keys_url(account)

    assert names(client.get(url).content.decode()) == ["legacy admin", "prod reader", "prod stale", "staging writer"]
    assert names(client.get(f"{url}?cluster={cluster.id}").content.decode()) == ["prod reader", "prod stale"]
    assert names(client.get(f"{url}?kind=admin").content.decode()) == ["legacy admin"]
    assert names(client.get(f"{url}?kind=database&state=active").content.decode()) == ["prod reader", "staging writer"]
    assert names(client.get(f"{url}?state=expired").content.decode()) == ["prod stale"]
    assert names(client.get(f"{url}?cluster={other.id}&kind=admin").content.decode()) == []
