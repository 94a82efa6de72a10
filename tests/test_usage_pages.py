"""Usage on the pages (issue 24): a key's page and its cluster's page count
the requests the fronts reported, by outcome, with the refusals explained
and the cluster's top keys, in a table that reads without JavaScript."""

from datetime import timedelta

import pytest
from django.utils import timezone

from keyset import wire
from keyset.usage import BUCKETS
from tests.fixtures.apikeys import cluster_url, make_key


@pytest.fixture
def credential(db):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("create_front_credential", "edge-1", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def report(client, credential, key, count, outcome="allowed", reason="", minutes_ago=5):
    minute = int((timezone.now() - timedelta(minutes=minutes_ago)).timestamp()) // 60
    latency = [0] * BUCKETS
    latency[1] = count
    response = client.post(wire.LAST_USED_PATH, {"uses": [], "usage": [
        ["database", str(key.id), minute, "rest", outcome, reason, count, latency]]}, content_type="application/json",
        headers={"Authorization": f"Bearer {credential}"})
    assert response.status_code == 200


def test_a_keys_page_counts_its_requests_and_explains_refusals(client, client_of, credential, cluster, owner):
    key, _ = make_key(cluster, by=owner, name="films reader")
    report(client, credential, key, 7)
    report(client, credential, key, 12, "403", "Write access to collection films is required")
    page = client_of(owner).get(key.get_absolute_url() + "?usage=hour").content.decode()
    assert "19 requests in the last hour" in page
    assert "403: Write access to collection films is required <strong>×12</strong>" in page
    assert "<td>7</td><td>0</td><td>12</td>" in page  # allowed, 401, 403 of the minute, in the table
    day = client_of(owner).get(key.get_absolute_url()).content.decode()
    assert "19 requests in the last day" in day


def test_a_clusters_page_shows_its_traffic_and_top_keys(client, client_of, credential, cluster, owner):
    busy, _ = make_key(cluster, by=owner, name="busy key")
    quiet, _ = make_key(cluster, by=owner, name="quiet key")
    report(client, credential, busy, 30)
    report(client, credential, quiet, 2, minutes_ago=60 * 30)  # more than a day ago
    page = client_of(owner).get(f"{cluster_url(cluster)}?usage=30d").content.decode()
    assert "32 requests in the last 30 days" in page
    assert page.index(f'data-top-key="{busy.id}"') < page.index(f'data-top-key="{quiet.id}"')
    day = client_of(owner).get(cluster_url(cluster)).content.decode()
    assert "30 requests in the last day" in day


def test_an_outsider_sees_no_usage(client_of, outsider, cluster, owner):
    key, _ = make_key(cluster, by=owner)
    assert client_of(outsider).get(key.get_absolute_url()).status_code == 404
