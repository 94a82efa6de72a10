"""Usage per key (issue 24): the front counts each request of a known key per
minute, by protocol, outcome and refusal reason, and reports the counts with
last-used; the console adds reports up, rolls minutes up into hours and
prunes both past their retention."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.db.models import Sum
from qdrant_client import QdrantClient, models

from apikeys.models import DatabaseApiKey, KeyUsage, UsagePeriod
from apikeys.usage import usage_rollup
from keyset import wire
from keyset.usage import BUCKETS, quantile
from tests.fixtures.apikeys import make_key
from tests.fixtures.dataplane import MANAGE, collection_rule, mint
from tests.fixtures.worker import wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


def counts(key, **where) -> dict:
    rows = (KeyUsage.objects.filter(key_id=key.id, period=UsagePeriod.MINUTE, **where)
            .values_list("protocol", "outcome", "reason").annotate(total=Sum("count")))
    return {(protocol, outcome, reason): total for protocol, outcome, reason, total in rows}


def test_requests_of_a_key_are_counted_by_protocol_outcome_and_reason(dataplane, cluster, owner):
    _, manage = mint(cluster, MANAGE, by=owner, name="admin key")
    key, reader = mint(cluster, collection_rule("films", "r"), by=owner, name="films reader")
    dataplane.wait_until_accepted(manage)  # the reader is confirmed by mint, and used below only
    rest = QdrantClient(url="http://127.0.0.1", port=dataplane.port, api_key=manage, check_compatibility=False)
    rest.create_collection("films", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))

    url, headers = dataplane.url, {"api-key": reader}
    for _ in range(3):
        assert httpx.get(f"{url}/collections/films", headers=headers).status_code == 200
    for _ in range(2):
        response = httpx.put(f"{url}/collections/films/points", headers=headers,
                             json={"points": [{"id": 1, "vector": [1, 0]}]})
        assert response.status_code == 403
    grpc = QdrantClient(host="127.0.0.1", grpc_port=dataplane.grpc_port, prefer_grpc=True, https=False,
                        api_key=reader, check_compatibility=False)
    for _ in range(2):
        assert grpc.collection_exists("films")
    with pytest.raises(Exception, match="Write access to collection films is required"):
        grpc.upsert("films", [models.PointStruct(id=1, vector=[1.0, 0.0])])
    # A client's NUL in a collection's name reaches the refusal's message; the count still reaches the console.
    assert httpx.get(f"{url}/collections/fi%00lms", headers=headers).status_code == 403

    wait_for(lambda: sum(counts(key).values()) >= 9, timeout=10)
    seen = counts(key)
    assert seen[("rest", "403", "Write access to collection films is required")] == 2
    assert seen[("grpc", "403", "Write access to collection films is required")] == 1
    assert seen[("grpc", "allowed", "")] == 2
    assert seen[("rest", "allowed", "")] == 3
    assert seen[("rest", "403", "Access to collection fi\ufffdlms is required")] == 1
    assert sum(seen.values()) == 9
    row = KeyUsage.objects.filter(key_id=key.id, protocol="grpc", outcome="allowed").first()
    assert row.cluster_id == cluster.id and sum(row.latency) == row.count


def test_a_tenant_keys_refusals_for_several_points_are_one_reason(dataplane, cluster, owner):
    from tests.test_tenant_front import COLLECTION, point, seed, tenant_key

    _, manage = mint(cluster, MANAGE, by=owner, name="admin key")
    token = tenant_key(cluster, owner, "acme")
    for each in (manage, token):
        dataplane.wait_until_accepted(each)
    seed(QdrantClient(url=dataplane.url, api_key=manage, check_compatibility=False))
    acme = QdrantClient(url=dataplane.url, api_key=token, check_compatibility=False)
    for theirs in (7, 8, 9):  # globex's points
        with pytest.raises(Exception, match=f"point {theirs} is another tenant"):
            acme.set_payload(COLLECTION, {"x": 1}, points=[theirs])
    with pytest.raises(Exception, match="point 20 must carry"):
        acme.upsert(COLLECTION, [point(20, "globex")])
    key = DatabaseApiKey.objects.get(name="acme app")
    wait_for(lambda: sum(counts(key, outcome="403").values()) >= 4, timeout=10)
    assert counts(key, outcome="403") == {
        ("rest", "403", "a point is another tenant's: this key may change only points with group_id = \"acme\""): 3,
        ("rest", "403", "a point must carry group_id = \"acme\" in its payload (this key writes only its tenant's "
                        "points)"): 1}


def report(client, credential, usage):
    return client.post(wire.LAST_USED_PATH, {"uses": [], "usage": usage}, content_type="application/json",
                       headers={"Authorization": f"Bearer {credential}"})


@pytest.fixture
def credential(db):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("create_front_credential", "edge-1", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


MINUTE = 29_000_000  # 2025-02-20 09:20 UTC


def row(key, count, *, minute=MINUTE, outcome="allowed", reason="", protocol="rest", kind="database"):
    latency = [0] * BUCKETS
    latency[2] = count
    return [kind, str(key.id), minute, protocol, outcome, reason, count, latency]


def test_two_fronts_reporting_the_same_minute_add_up(client, credential, cluster, owner):
    key, _ = make_key(cluster, by=owner)
    assert report(client, credential, [row(key, 5), row(key, 2, outcome="403", reason="Global access is required")]
                  ).status_code == 200
    assert report(client, credential, [row(key, 7)]).status_code == 200
    assert counts(key) == {("rest", "allowed", ""): 12, ("rest", "403", "Global access is required"): 2}
    stored = KeyUsage.objects.get(key_id=key.id, outcome="allowed")
    assert stored.start == datetime.fromtimestamp(MINUTE * 60, UTC)
    assert stored.latency[2] == 12 and quantile(stored.latency, 0.99) == 0.025


def test_a_malformed_usage_row_is_refused_and_nothing_is_written(client, credential, cluster, owner):
    key, _ = make_key(cluster, by=owner)
    bad = row(key, 3)
    bad[7] = [1] * BUCKETS  # latencies that do not add up to the count
    response = report(client, credential, [row(key, 1), bad])
    assert response.status_code == 400 and "usage" in response.json()["error"]
    nul = row(key, 1, outcome="403", reason="Read access to collection a\x00b is required")
    assert report(client, credential, [row(key, 1), nul]).status_code == 400  # PostgreSQL stores no NUL
    assert not KeyUsage.objects.exists()


def test_counts_of_keys_the_console_does_not_know_are_dropped(client, credential, cluster, owner):
    key, _ = make_key(cluster, by=owner)
    stranger = type("Key", (), {"id": "0b7c5b4e-1f6d-4d55-9a3d-2f1e0c9b8a71"})
    assert report(client, credential, [row(key, 1), row(stranger, 4)]).status_code == 200
    assert list(KeyUsage.objects.values_list("key_id", flat=True)) == [key.id]


def test_minutes_roll_up_into_hours_twice_the_same_and_old_rows_are_pruned(client, credential, cluster, owner,
                                                                           settings):
    settings.USAGE_MINUTE_RETENTION_HOURS = 48
    settings.USAGE_HOUR_RETENTION_DAYS = 90
    key, _ = make_key(cluster, by=owner)
    now = datetime(2025, 2, 20, 12, 30, tzinfo=UTC)
    minute = int(now.timestamp()) // 60
    report(client, credential, [row(key, 3, minute=minute - 31), row(key, 4, minute=minute - 91),
                                row(key, 1, minute=minute - 91, outcome="401", reason="Invalid JWT"),
                                row(key, 9, minute=minute)])  # the hour still going: not rolled up yet
    usage_rollup(now)
    usage_rollup(now)
    hours = {(r.start, r.outcome): r.count for r in KeyUsage.objects.filter(period=UsagePeriod.HOUR)}
    assert hours == {(datetime(2025, 2, 20, 11, tzinfo=UTC), "allowed"): 3,
                     (datetime(2025, 2, 20, 10, tzinfo=UTC), "allowed"): 4,
                     (datetime(2025, 2, 20, 10, tzinfo=UTC), "401"): 1}

    usage_rollup(now + timedelta(hours=48, minutes=31))  # the minutes before 12:01 are past 48 hours
    assert not KeyUsage.objects.filter(period=UsagePeriod.MINUTE, start__lt=now - timedelta(minutes=30)).exists()
    assert KeyUsage.objects.filter(period=UsagePeriod.HOUR).count() == 4  # 12:00 rolled up, 10:00 and 11:00 kept
    usage_rollup(now + timedelta(days=91))
    assert not KeyUsage.objects.exists()
