"""Last used: time and client IP, written off the request path, at most once a minute."""

import httpx

from apikeys.models import DatabaseApiKey
from tests.fixtures.apikeys import cluster_url
from tests.fixtures.dataplane import MANAGE, mint
from tests.fixtures.worker import wait_for


def test_a_keys_last_use_is_recorded_and_shown_with_the_client_ip(dataplane, cluster, owner, client_of):
    key, token = mint(cluster, MANAGE, by=owner)
    assert key.last_used_at is None
    dataplane.wait_until_accepted(token)
    recorded = wait_for(lambda: DatabaseApiKey.objects.filter(id=key.id, last_used_at__isnull=False).first(),
                        timeout=5)
    assert (recorded.last_used_ip, recorded.last_used_protocol) == ("127.0.0.1", "rest")
    page = client_of(owner).get(cluster_url(cluster)).content.decode()
    assert (f"{recorded.last_used_at:%Y-%m-%d %H:%M}</time> <span class=\"muted\" data-last-used-protocol>over REST"
            "</span> <span class=\"muted\">from 127.0.0.1</span>") in page


def test_it_is_written_at_most_once_a_minute(dataplane, cluster, owner):
    key, token = mint(cluster, MANAGE, by=owner)
    dataplane.wait_until_accepted(token)
    first = wait_for(lambda: DatabaseApiKey.objects.filter(id=key.id).values_list("last_used_at", flat=True)[0],
                     timeout=5)
    for _ in range(5):
        assert httpx.get(dataplane.url + "/collections", headers={"api-key": token}).status_code == 200
    flushes = dataplane.stats()[0]["last_used_flushes"]
    # Two more rounds of the writer: one at least began after the last request.
    wait_for(lambda: dataplane.stats()[0]["last_used_flushes"] >= flushes + 2, timeout=5)
    assert DatabaseApiKey.objects.get(id=key.id).last_used_at == first
