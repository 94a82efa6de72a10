"""Lists of database API keys: on the cluster page and on the API Keys page; deleting one."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import DatabaseApiKey
from tests.fixtures.apikeys import (
    MANAGE,
    READ_ONLY,
    account_keys_url,
    bulk_keys,
    cluster_url,
    key_url,
    make_key,
)


def rows(html: str) -> list[str]:
    return re.findall(r"<tr data-key-id=.*?</tr>", html, flags=re.S)


def test_the_cluster_page_lists_each_key_with_what_it_opens(client_of, owner, cluster):
    make_key(cluster, by=owner, name="admin tool", rules=MANAGE)
    make_key(cluster, by=owner, name="dashboards", rules=READ_ONLY)
    make_key(cluster, name="analytics", rules=[{"collection": c, "access": "r"} for c in ("a", "b", "c")])
    make_key(cluster, name="writer", rules=[{"collection": "books", "access": "rw"}])
    make_key(cluster, name="mixed use", rules=[{"collection": "a", "access": "r"}, {"collection": "b", "access": "rw"}])
    html = client_of(owner).get(cluster_url(cluster)).content.decode()
    for summary in (
        "Manage · cluster-wide",
        "Read-only · cluster-wide",
        "Read-only · 3 collections",
        "Read-write · 1 collection",
        "Mixed · 2 collections",
    ):
        assert summary in html
    assert '<span class="muted" data-access-details>a: Read-only, b: Read-write</span>' in html  # which ones, shown (issue 14)
    assert len(rows(html)) == 5


def test_a_row_shows_postfix_creator_dates_expiry_and_last_use(client_of, owner, cluster):
    key, token = make_key(cluster, by=owner, name="nightly", expires_at=timezone.now() + timedelta(days=10))
    row = rows(client_of(owner).get(cluster_url(cluster)).content.decode())[0]
    assert "nightly" in row and f"<code>…{token[-6:]}</code>" in row and "alice" in row
    assert key.created_at.strftime("%Y-%m-%d") in row and key.expires_at.strftime("%Y-%m-%d") in row
    assert "Expired" not in row and row.count("Never") == 1  # last used: the data plane fills it later


def test_an_expired_key_has_a_badge_and_a_key_without_expiry_says_never(client_of, owner, cluster):
    key, _ = make_key(cluster, name="old one", expires_at=timezone.now() + timedelta(days=1))
    DatabaseApiKey.objects.filter(id=key.id).update(expires_at=timezone.now() - timedelta(days=1))
    make_key(cluster, name="forever", expires_at=None)
    by_name = {("old one" in row): row for row in rows(client_of(owner).get(cluster_url(cluster)).content.decode())}
    assert '<span class="badge expired">Expired</span>' in by_name[True]
    assert "Expired" not in by_name[False] and by_name[False].count("Never") == 2


def test_deleting_a_key_records_it_as_revoked_and_takes_it_off_every_list(client_of, owner, cluster):
    doomed, _ = make_key(cluster, name="doomed key", rules=[{"collection": "gone", "access": "r"}])
    make_key(cluster, name="sibling key", rules=[{"collection": "kept", "access": "rw"}])
    client = client_of(owner)
    response = client.post(key_url(doomed, "delete"))
    assert response["Location"] == cluster_url(cluster) + "#api-keys"

    doomed.refresh_from_db()
    assert doomed.revoked_at is not None and doomed.revoked_by == owner  # the id stays, recorded as revoked
    page = client.get(cluster_url(cluster)).content.decode()
    assert "Deleted the database API key doomed key" in page
    assert "sibling key" in page and len(rows(page)) == 1 and str(doomed.id) not in page
    account_page = client.get(account_keys_url(cluster.account)).content.decode()
    assert "sibling key" in account_page and "doomed key" not in account_page
    assert client.post(key_url(doomed, "delete")).status_code == 404  # deleting twice finds nothing


def test_deleting_from_the_api_keys_page_returns_there(client_of, owner, cluster):
    key, _ = make_key(cluster)
    client = client_of(owner)
    list_url = account_keys_url(cluster.account)
    assert f"{key_url(key, 'delete')}?next={list_url}" in client.get(list_url).content.decode()
    assert client.post(key_url(key, "delete"), {"next": list_url})["Location"] == list_url
    assert client.post(key_url(make_key(cluster)[0], "delete"), {"next": "https://evil.example/"})[
        "Location"
    ].startswith(cluster_url(cluster))


def test_the_api_keys_page_lists_the_keys_of_every_cluster_of_the_account(
    client_of, owner, cluster, account, other_cluster
):
    from tests.conftest import make_cluster

    second = make_cluster(account, name="second-cluster")
    make_key(cluster, name="first key")
    make_key(second, name="second key")
    make_key(other_cluster, name="their key")
    html = client_of(owner).get(account_keys_url(account)).content.decode()
    assert "first key" in html and "second key" in html and "their key" not in html
    assert f'href="{cluster_url(second)}#api-keys">second-cluster</a>' in html
    assert len(rows(html)) == 2


def test_lists_are_paginated(client_of, owner, cluster, settings):
    bulk_keys(cluster, 30)
    client = client_of(owner)
    first = client.get(cluster_url(cluster)).content.decode()
    second = client.get(cluster_url(cluster) + "?keys_page=2").content.decode()
    assert len(rows(first)) == settings.API_KEYS_PER_PAGE == 25 and len(rows(second)) == 5
    assert "Page 1 of 2 · 30 keys" in first and '?keys_page=2#api-keys" rel="next"' in first
    assert "key 0000" in first and "key 0029" in second  # newest first
    assert len(rows(client.get(cluster_url(cluster) + "?keys_page=junk").content.decode())) == 25
    account_second = client.get(account_keys_url(cluster.account) + "?page=2").content.decode()
    assert len(rows(account_second)) == 5


def cluster_page_queries(client, cluster, django_assert_num_queries, count: int) -> None:
    with django_assert_num_queries(count):
        response = client.get(cluster_url(cluster))
    assert len(rows(response.content.decode())) == min(DatabaseApiKey.objects.filter(cluster=cluster).count(), 25)


# The cluster page's own 8 (session, user, membership, cluster, its account,
# nodes, active operation, the account switcher's memberships), then the API
# Keys section's 2: the number of keys and one page of them with their creators,
# the banner's keys that expire within a week, the account's key policy
# (read once, for the "Breaks key policy" badges), and the cluster's usage rows
# for its traffic chart (one read, whatever the number of keys).
CLUSTER_PAGE_QUERIES = 13


@pytest.mark.parametrize("keys", [10, 1000])
def test_the_cluster_page_costs_the_same_queries_with_10_or_1000_keys(
    client_of, owner, cluster, django_assert_num_queries, keys
):
    bulk_keys(cluster, keys, by=owner)
    client = client_of(owner)
    client.get(cluster_url(cluster))  # warm up: the first request may load content types and the like
    cluster_page_queries(client, cluster, django_assert_num_queries, CLUSTER_PAGE_QUERIES)


@pytest.mark.parametrize("keys", [10, 1000])
def test_the_api_keys_page_costs_the_same_queries_with_10_or_1000_keys(
    client_of, owner, cluster, django_assert_num_queries, keys
):
    bulk_keys(cluster, keys, by=owner)
    client = client_of(owner)
    client.get(account_keys_url(cluster.account))
    # session, user, membership, memberships of the switcher, count, one page,
    # the admin keys' count (none here, so no page of them), the clusters of the
    # filter and the account's key policy (once, for the badges).
    with django_assert_num_queries(9):
        response = client.get(account_keys_url(cluster.account))
    assert len(rows(response.content.decode())) == 10 if keys == 10 else 25


def test_creating_and_deleting_a_key_tell_the_data_plane(cluster, owner):
    from apikeys.services import database_key_delete
    from fronts.models import KeySetChange

    before = KeySetChange.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def changes() -> list[tuple]:  # since the cluster was made
        return list(KeySetChange.objects.filter(id__gt=before).order_by("id").values_list("kind", "cluster_id", "key_id"))

    key, _ = make_key(cluster, by=owner)
    assert changes() == [("database", cluster.id, key.id)]  # that key alone: the data plane re-reads one row
    database_key_delete(key=key, by=owner)
    assert changes() == [("database", cluster.id, key.id)] * 2
    database_key_delete(key=key, by=owner)  # already revoked: nothing changed
    assert len(changes()) == 2
