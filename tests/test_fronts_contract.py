"""The console's end of the contract (fronts/views.py): a front with a credential
made by `create_front_credential` reads the key set and its changes, reports
uses, claims embedded clusters and reports their collections; a wrong,
unknown or revoked credential gets nothing."""

import io

import pytest
from django.core.management import call_command

from apikeys.models import DatabaseApiKey
from apikeys.services import database_key_delete
from clusters.models import Cluster, Runtime
from clusters.runtime import runtime_for
from fronts.models import FrontInstance, KeySetChange
from keyset import wire
from tests.fixtures.apikeys import make_key


@pytest.fixture
def credential(db, settings):
    settings.DATAPLANE_CONFIRM_SECONDS = 0
    out = io.StringIO()
    call_command("create_front_credential", "edge-1", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def ask(client, path, credential, *, applied=None, **params):
    headers = {"Authorization": f"Bearer {credential}", wire.INSTANCE_HEADER: "edge-host:/run/1.keyset"}
    if applied is not None:
        headers[wire.APPLIED_HEADER] = str(applied)
    return client.get(path, params, headers=headers)


def test_a_front_reads_the_key_set_and_then_only_what_changed(client, credential, cluster, owner):
    key, _token = make_key(cluster, by=owner)
    snapshot = ask(client, wire.SNAPSHOT_PATH, credential).json()
    assert [row[0] for row in snapshot["clusters"]] == [str(cluster.id)]
    assert snapshot["clusters"][0][3] == cluster.master_key  # decrypted: the front holds no encryption key
    assert [row[0] for row in snapshot["database_keys"]] == [str(key.id)]
    assert snapshot["peppers"]
    after = snapshot["recent"][0]

    other, _ = make_key(cluster, by=owner, name="second")
    database_key_delete(key=key, by=owner)
    changes = ask(client, wire.CHANGES_PATH, credential, after=after).json()
    assert [change[0] for change in changes["changes"]] == list(
        KeySetChange.objects.filter(id__gte=after).order_by("id").values_list("id", flat=True))
    # The created key comes with its row; the deleted one without (no longer live).
    assert [row[0] for row in changes["database_keys"]] == [str(other.id)]


def test_a_front_s_acknowledgement_and_contact_are_recorded(client, credential, cluster):
    ask(client, wire.CHANGES_PATH, credential, applied=41, after=0)
    process = FrontInstance.objects.get()
    assert (process.credential.name, process.instance, process.applied_sequence) == (
        "edge-1", "edge-host:/run/1.keyset", 41)
    out = io.StringIO()
    call_command("list_fronts", stdout=out)
    assert "edge-1\tactive" in out.getvalue() and "applied change 41" in out.getvalue()


@pytest.mark.parametrize("mangle", [
    lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),  # wrong secret
    lambda c: "0" * 32 + "." + c.split(".", 1)[1],  # unknown id
    lambda c: "no-dot",
    lambda c: "",
])
def test_a_wrong_credential_gets_nothing(client, credential, cluster, mangle):
    response = ask(client, wire.SNAPSHOT_PATH, mangle(credential))
    assert response.status_code == 401
    assert "clusters" not in response.json()


def test_a_revoked_credential_is_refused_at_once(client, credential, cluster):
    assert ask(client, wire.SNAPSHOT_PATH, credential).status_code == 200
    call_command("revoke_front_credential", "edge-1", stdout=io.StringIO())
    assert ask(client, wire.SNAPSHOT_PATH, credential).status_code == 401
    assert not FrontInstance.objects.exists()  # no longer waited for


def test_last_used_reports_are_written(client, credential, cluster, owner):
    key, _ = make_key(cluster, by=owner)
    response = client.post(wire.LAST_USED_PATH, [["database", str(key.id), 1_700_000_000.5, "10.0.0.7", "grpc"]],
                           content_type="application/json", headers={"Authorization": f"Bearer {credential}"})
    assert response.status_code == 200
    key = DatabaseApiKey.objects.get(id=key.id)
    assert (key.last_used_ip, key.last_used_protocol, int(key.last_used_at.timestamp())) == (
        "10.0.0.7", "grpc", 1_700_000_000)


def test_a_malformed_report_is_refused_and_writes_nothing(client, credential, cluster, owner):
    key, _ = make_key(cluster, by=owner)
    response = client.post(wire.LAST_USED_PATH, [["database", str(key.id), "yesterday", None, "rest"]],
                           content_type="application/json", headers={"Authorization": f"Bearer {credential}"})
    assert response.status_code == 400
    assert DatabaseApiKey.objects.get(id=key.id).last_used_at is None


def test_a_second_credential_of_the_same_name_is_refused(credential):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="already exists"):
        call_command("create_front_credential", "edge-1", stdout=io.StringIO())


def test_processes_gone_for_a_day_are_forgotten_by_the_prune(client, credential, cluster):
    from datetime import timedelta

    from django.utils import timezone

    from fronts.tasks import keyset_prune_task

    ask(client, wire.CHANGES_PATH, credential, after=0)
    FrontInstance.objects.update(last_contact_at=timezone.now() - timedelta(days=1, minutes=1))
    keyset_prune_task()
    assert not FrontInstance.objects.exists()


def post(client, path, credential, body):
    headers = {"Authorization": f"Bearer {credential}", wire.INSTANCE_HEADER: "edge-host:/run/1.keyset"}
    return client.post(path, body, content_type="application/json", headers=headers)


def test_the_first_front_to_claim_an_embedded_cluster_owns_it_and_only_it_reports_its_collections(
        client, credential, cluster):
    out = io.StringIO()
    call_command("create_front_credential", "edge-2", stdout=out, stderr=io.StringIO())
    second = out.getvalue().strip()
    claim = {"cluster": str(cluster.id), "address": "tcp://edge-1:6335"}
    assert post(client, wire.CLAIM_PATH, credential, claim).json() == {"front": "edge-1",
                                                                       "address": "tcp://edge-1:6335"}
    answer = post(client, wire.CLAIM_PATH, second, claim | {"address": "tcp://edge-2:6335"}).json()
    assert answer == {"front": "edge-1", "address": "tcp://edge-1:6335"}  # the first claim stands
    rows = ask(client, wire.SNAPSHOT_PATH, second).json()["clusters"]
    assert rows[0][-2:] == ["edge-1", "tcp://edge-1:6335"]  # every front learns the owner

    names = {"cluster": str(cluster.id), "names": ["films", "books"]}
    assert post(client, wire.COLLECTIONS_PATH, second, names).status_code == 409
    assert runtime_for(cluster).collections(cluster) == []
    assert post(client, wire.COLLECTIONS_PATH, credential, names).status_code == 200
    assert runtime_for(cluster).collections(cluster) == ["books", "films"]


@pytest.mark.parametrize("body", [{}, {"cluster": "nope", "address": ""}, {"cluster": None}, [], "x"])
def test_a_malformed_claim_is_refused(client, credential, body):
    assert post(client, wire.CLAIM_PATH, credential, body).status_code == 400


def test_a_claim_of_a_cluster_that_is_not_embedded_is_refused(client, credential, cluster):
    Cluster.objects.filter(id=cluster.id).update(runtime=Runtime.QDRANT)
    response = post(client, wire.CLAIM_PATH, credential, {"cluster": str(cluster.id), "address": ""})
    assert response.status_code == 404
