"""Usage series in the management API (issue 24), a console extension: the
counts the fronts reported for a key and for its cluster, by outcome, with
the refusals; marked `x-console-extension` in the served schema."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.usage import usage_record
from keyset.usage import BUCKETS
from tests.fixtures.apikeys import make_key
from tests.test_api_support import api_as, assert_error, url


def reported(key, count, outcome="allowed", reason=""):
    minute = int((timezone.now() - timedelta(minutes=3)).timestamp()) // 60
    latency = [0] * BUCKETS
    latency[0] = count
    usage_record([["database", str(key.id), minute, "grpc", outcome, reason, count, latency]])


def test_a_keys_and_its_clusters_series_count_what_the_fronts_reported(owner, account, cluster):
    key, _ = make_key(cluster, by=owner)
    other, _ = make_key(cluster, by=owner, name="other key")
    reported(key, 9)
    reported(key, 4, "403", "Global manage access is required")
    reported(other, 2)
    client = api_as(owner, account)
    body = client.get(url("database-api-key-usage", account, database_api_key_id=key.id), {"window": "hour"}).json()
    assert body["total"] == 13 and body["stepSeconds"] == 60 and len(body["buckets"]) == 60
    assert sum(b["allowed"] for b in body["buckets"]) == 9 and sum(b["forbidden"] for b in body["buckets"]) == 4
    assert body["refusals"] == [{"outcome": "403", "reason": "Global manage access is required", "count": 4}]
    assert max(b["p99Ms"] or 0 for b in body["buckets"]) == 5.0
    cluster_body = client.get(url("cluster-usage", account, cluster_id=cluster.id)).json()
    assert cluster_body["window"] == "day" and cluster_body["total"] == 15
    assert [(top["name"], top["count"]) for top in cluster_body["topKeys"]] == [(key.name, 13), ("other key", 2)]


def test_a_window_it_does_not_know_is_a_clear_error(owner, account, cluster):
    key, _ = make_key(cluster, by=owner)
    response = api_as(owner, account).get(url("database-api-key-usage", account, database_api_key_id=key.id),
                                          {"window": "week"})
    assert_error(response, 400, 3, "window")


@pytest.mark.parametrize("path", ["/cluster/auth/v2/accounts/{account}/database-api-keys/{key}:usage",
                                  "/cluster/v1/accounts/{account}/clusters/{cluster}:usage"])
def test_the_series_are_marked_as_console_extensions(client, db, path):
    schema = client.get("/api/schema").json()
    found = [(p, ops) for p, ops in schema["paths"].items() if p.endswith(path.rsplit("}", 1)[1])
             and ("database-api-keys" in p) == ("database-api-keys" in path)]
    assert found and found[0][1]["get"].get("x-console-extension") is True
