"""With REDIS_URL set, a key change reaches the data plane through Redis:
polling is slowed to 30 s and the console's handshake is off here, so only the
published message can be in time."""


import pytest

from apikeys.services import database_key_delete
from tests.fixtures.dataplane import MANAGE, another_front, mint


@pytest.fixture(scope="module")
def redis_dataplane(redis_url, dataplane_process, django_db_blocker, tmp_path_factory):
    with another_front(dataplane_process, django_db_blocker, tmp_path_factory.mktemp("dataplane-redis"),
                       REDIS_URL=redis_url, DATAPLANE_POLL_SECONDS="30",
                       # what carries the change here is the Redis message
                       DATAPLANE_LONG_POLL_SECONDS="0") as plane:
        yield plane


@pytest.fixture
def publishing(redis_url, settings, monkeypatch):
    """The console side publishes on this Redis, and does not wait for the data plane."""
    from fronts import changelog

    settings.REDIS_URL = redis_url
    settings.DATAPLANE_CONFIRM_SECONDS = 0
    monkeypatch.setattr(changelog, "_redis", None)


def test_a_new_and_a_deleted_key_take_effect_within_a_second_through_redis(
        redis_dataplane, publishing, dataplane, cluster, owner):
    key, token = mint(cluster, MANAGE, by=owner)
    assert redis_dataplane.wait_until_accepted(token, timeout=1.0) < 1.0
    database_key_delete(key=key, by=owner)
    _, status = redis_dataplane.wait_until_refused(token, timeout=1.0)
    assert status == 401
