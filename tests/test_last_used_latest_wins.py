"""Last used is the latest use, whatever the protocol and the data plane
process that saw it: a process that flushes an older use late never writes
it over a newer one another process recorded first."""

from apikeys.models import DatabaseApiKey
from dataplane.lastused import LastUsed
from tests.fixtures.apikeys import key_url, make_key


def test_an_older_grpc_use_flushed_late_does_not_hide_a_newer_rest_use(cluster, owner, client_of, contract_client):
    key, _ = make_key(cluster, by=owner)
    # Two front processes, each reporting over the contract (answered in this process).
    grpc_process = LastUsed(client=contract_client, flush_seconds=60)
    rest_process = LastUsed(client=contract_client, flush_seconds=60)
    grpc_process.note(key, "10.0.0.7", "grpc")
    rest_process.note(key, "10.0.0.8", "rest")  # later than the gRPC use
    rest_process.flush()
    grpc_process.flush()  # the older use arrives last

    recorded = DatabaseApiKey.objects.get(id=key.id)
    assert (recorded.last_used_protocol, recorded.last_used_ip) == ("rest", "10.0.0.8")
    page = client_of(owner).get(key_url(key)).content.decode()
    assert "over REST</span> <span class=\"muted\">from 10.0.0.8" in page
