"""A key's life at the front, through the official qdrant-client: roll with a
grace window (the data plane's clock moved, never slept through), disable and
enable, IP allowlists (IPv4, IPv6, X-Forwarded-For from trusted and untrusted
peers), and last used by protocol with the address, over REST and gRPC.

The data plane here is one of this module's own: its clock can be moved
(DATAPLANE_TEST_CLOCK) and it trusts 127.0.0.2 as a proxy (TRUSTED_PROXIES),
so a client bound to 127.0.0.2 is a proxy and one on 127.0.0.1 is not.
"""

import json
from datetime import timedelta

import grpc
import httpx
import pytest
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import UnexpectedResponse

from apikeys.models import DatabaseApiKey
from apikeys.services import ROLL_GRACE, database_key_create, key_disable, key_enable, key_roll
from keyset.handshake import ask_all
from tests.fixtures.dataplane import MANAGE, DataPlaneProcess, contract_env, free_port, mint
from tests.fixtures.qdrant import requires_qdrant
from tests.fixtures.worker import wait_for

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

PROXY = "127.0.0.2"
INVALID = "Invalid API key or JWT"


@pytest.fixture(scope="module")
def front_process(django_db_setup, django_db_blocker, tmp_path_factory, dataplane_run_dir, live_server,
                  front_credential):
    data_dir = tmp_path_factory.mktemp("lifecycle-dataplane")
    env = contract_env(live_server, front_credential) | {
        "DATAPLANE_HOST": "127.0.0.1",
        "DATAPLANE_PORT": str(free_port()),
        "DATAPLANE_DATA_DIR": str(data_dir),
        "DATAPLANE_RUN_DIR": str(dataplane_run_dir),
        "DATAPLANE_POLL_SECONDS": "0.1",
        "DATAPLANE_LAST_USED_FLUSH_SECONDS": "0.2",
        "DATAPLANE_TEST_CLOCK": "true",
        "TRUSTED_PROXIES": f"{PROXY}/32",
    }
    plane = DataPlaneProcess(port=int(env["DATAPLANE_PORT"]), data_dir=data_dir, env=env)
    with django_db_blocker.unblock():
        front_credential.ensure()
        plane.start()
    yield plane
    plane.stop()


@pytest.fixture
def front(front_process, transactional_db, front_credential):
    front_credential.ensure()
    if front_process.process.poll() is not None:
        front_process.start()
    yield front_process
    move_clock(front_process, 0)


def move_clock(plane: DataPlaneProcess, seconds: float) -> None:
    """Sets the data plane's clock `seconds` ahead of the system's (dataplane/clock.py)."""
    request = json.dumps({"op": "clock", "offset": seconds}).encode() + b"\n"
    replies = ask_all(run_dir=plane.run_dir, request=request, timeout=5)
    assert replies.get(str(plane.process.pid), {}).get("ok"), "the data plane did not move its clock"


def rest(plane, token, **kwargs) -> QdrantClient:
    return QdrantClient(url=plane.url, api_key=token, check_compatibility=False, timeout=10, **kwargs)


def refused(call) -> tuple[int, str]:
    with pytest.raises(UnexpectedResponse) as error:
        call()
    return error.value.status_code, error.value.content.decode()


def works(client: QdrantClient) -> bool:
    return isinstance(client.get_collections().collections, list)


def from_address(plane, token, source: str, forwarded_for: str | None = None) -> httpx.Response:
    """GET /collections with the key from a socket bound to `source`, optionally through a proxy's header."""
    headers = {"api-key": token} | ({"x-forwarded-for": forwarded_for} if forwarded_for else {})
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
        return client.get(plane.url + "/collections", headers=headers)


def last_use(key) -> tuple:
    return DatabaseApiKey.objects.values_list("last_used_ip", "last_used_protocol").get(id=key.id)


# Roll


def test_a_rolled_keys_old_secret_works_until_its_deadline_and_not_a_second_longer(front, cluster, owner):
    key, old = mint(cluster, MANAGE, by=owner)
    new_key, new = key_roll(key=key, grace=ROLL_GRACE["1h"], by=owner)
    assert (new_key.name, new_key.rules, new_key.expires_at) == (key.name, key.rules, key.expires_at)
    assert works(rest(front, old)) and works(rest(front, new))

    move_clock(front, 3600 - 5)
    assert works(rest(front, old)), "the old secret still works just before its deadline"
    move_clock(front, 3600 + 1)
    assert refused(rest(front, old).get_collections) == (401, INVALID)
    assert works(rest(front, new))


def test_a_roll_with_no_grace_kills_the_old_secret_on_the_next_request(front, cluster, owner):
    key, old = mint(cluster, MANAGE, by=owner)
    assert works(rest(front, old))  # cached as verified: the roll must still reach it
    _, new = key_roll(key=key, grace=ROLL_GRACE["now"], by=owner)
    assert refused(rest(front, old).get_collections) == (401, INVALID)
    assert works(rest(front, new))


# Disable and enable


def test_a_disabled_key_is_refused_at_once_and_enabling_it_restores_it(front, cluster, owner):
    key, token = mint(cluster, MANAGE, by=owner)
    client = rest(front, token)
    assert works(client)
    key_disable(key=key, by=owner)
    assert refused(client.get_collections) == (401, INVALID)
    key_enable(key=key, by=owner)
    assert works(client)


# IP allowlists


def allowlisted(cluster, owner, *networks):
    return database_key_create(cluster=cluster, name="fenced key", rules=MANAGE, expires_at=None, by=owner,
                               allowed_networks=list(networks))


def test_an_allowlisted_key_works_from_its_network_and_is_refused_elsewhere_with_the_address(front, cluster, owner):
    inside, inside_token = allowlisted(cluster, owner, "10.0.0.0/8", "127.0.0.0/30")
    assert works(rest(front, inside_token))
    outside, outside_token = allowlisted(cluster, owner, "10.0.0.0/8", "2001:db8::/32")
    status, body = refused(rest(front, outside_token).get_collections)
    assert (status, body) == (403, "Forbidden: the address 127.0.0.1 is not allowed to use this key")
    # Last used records the refused request's address and protocol too.
    assert wait_for(lambda: last_use(outside)[0], timeout=5) == "127.0.0.1"
    assert last_use(outside) == ("127.0.0.1", "rest")


def test_x_forwarded_for_counts_only_from_a_trusted_proxy_ipv6_client(front, cluster, owner):
    key, token = allowlisted(cluster, owner, "2001:db8::/32")
    through_proxy = from_address(front, token, PROXY, forwarded_for="198.51.100.9, 2001:db8::7")
    assert through_proxy.status_code == 200
    assert wait_for(lambda: last_use(key)[0], timeout=5) == "2001:db8::7"

    direct = from_address(front, token, "127.0.0.1", forwarded_for="2001:db8::7")
    assert (direct.status_code, direct.text) == (403, "Forbidden: the address 127.0.0.1 is not allowed to use this key")


def test_a_proxy_that_forwards_past_another_trusted_hop_names_the_first_untrusted_one(front, cluster, owner):
    key, token = allowlisted(cluster, owner, "203.0.113.0/24")
    # The rightmost hop is the trusted proxy itself (a proxy chain): the client is the one before it.
    response = from_address(front, token, PROXY, forwarded_for=f"192.0.2.1, 203.0.113.5, {PROXY}")
    assert response.status_code == 200
    spoofed = from_address(front, token, PROXY, forwarded_for="203.0.113.5, 192.0.2.1")
    assert (spoofed.status_code, spoofed.text) == (
        403, "Forbidden: the address 192.0.2.1 is not allowed to use this key")


# Over gRPC: a `qdrant` cluster (real nodes behind the front)


@pytest.fixture
def grpc_cluster(cluster, qdrant, qdrant_node, front):
    from tests.test_dataplane_front import front_cluster

    return front_cluster(cluster, [qdrant_node], qdrant)


def grpc_client(plane, token, **kwargs) -> QdrantClient:
    return QdrantClient(host="127.0.0.1", grpc_port=plane.grpc_port, prefer_grpc=True, api_key=token, https=False,
                        check_compatibility=False, timeout=30, **kwargs)


def grpc_refused(call) -> tuple:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return error.value.code(), error.value.details()


@requires_qdrant
def test_over_grpc_roll_disable_and_allowlists_hold_and_last_used_says_grpc(grpc_cluster, front, owner):
    key, old = mint(grpc_cluster, MANAGE, by=owner)
    assert isinstance(grpc_client(front, old).get_collections().collections, list)
    assert wait_for(lambda: last_use(key)[1] == "grpc", timeout=5)
    assert last_use(key) == ("127.0.0.1", "grpc")

    new_key, new = key_roll(key=key, grace=ROLL_GRACE["24h"], by=owner)
    move_clock(front, timedelta(hours=24).total_seconds() + 1)
    assert grpc_refused(grpc_client(front, old).get_collections) == (grpc.StatusCode.UNAUTHENTICATED, INVALID)
    assert isinstance(grpc_client(front, new).get_collections().collections, list)

    key_disable(key=new_key, by=owner)
    assert grpc_refused(grpc_client(front, new).get_collections) == (grpc.StatusCode.UNAUTHENTICATED, INVALID)
    key_enable(key=new_key, by=owner)
    assert isinstance(grpc_client(front, new).get_collections().collections, list)

    fenced, fenced_token = allowlisted(grpc_cluster, owner, "2001:db8::/32")
    # The peer (127.0.0.1) is no trusted proxy: its x-forwarded-for is not believed.
    client = grpc_client(front, fenced_token, headers={"x-forwarded-for": "2001:db8::1"})
    assert grpc_refused(client.get_collections) == (
        grpc.StatusCode.PERMISSION_DENIED, "Forbidden: the address 127.0.0.1 is not allowed to use this key")
    assert wait_for(lambda: last_use(fenced)[0], timeout=5) == "127.0.0.1"
    assert last_use(fenced) == ("127.0.0.1", "grpc")


def test_an_admin_key_is_disabled_rolled_and_fenced_like_a_database_key(front, legacy_cluster, owner):
    from apikeys.services import admin_key_create

    key, secret = admin_key_create(cluster=legacy_cluster, name="legacy app", expires_at=None, by=owner,
                                   allowed_networks=["127.0.0.1/32", "::1/128"])
    assert works(rest(front, secret))
    assert from_address(front, secret, PROXY).status_code == 403  # 127.0.0.2: outside the allowlist
    key_disable(key=key, by=owner)
    assert refused(rest(front, secret).get_collections) == (401, INVALID)
    key_enable(key=key, by=owner)
    _, new_secret = key_roll(key=key, grace=ROLL_GRACE["7d"], by=owner)
    move_clock(front, timedelta(days=7).total_seconds() + 1)
    assert refused(rest(front, secret).get_collections) == (401, INVALID)
    assert works(rest(front, new_secret))
