"""Wrong management keys are throttled per client IP: 429 RESOURCE_EXHAUSTED in
grpc-gateway's shape, with Retry-After, for every key from that address until
the window ends; other addresses are unaffected."""

from datetime import timedelta

from django.conf import settings

from managementkeys.models import ManagementKeyFailure
from tests.test_api_support import api_client, assert_error, mint, url

LIMIT = settings.MANAGEMENT_KEY_FAILURE_LIMIT
WRONG = f"{'0' * 12}.{'A' * 43}"


def clusters(account, plaintext, ip="203.0.113.9"):
    return api_client(plaintext, REMOTE_ADDR=ip).get(url("clusters", account))


def test_wrong_keys_past_the_limit_get_429_and_then_even_the_right_key_does(owner, account):
    good = mint(account, owner)
    for _ in range(LIMIT):
        assert_error(clusters(account, WRONG), 401, 16)
    throttled = clusters(account, WRONG)
    assert_error(throttled, 429, 8, "Too many requests with a wrong management key", "Expected available in")
    assert 0 < int(throttled["Retry-After"]) <= settings.LOGIN_LOCKOUT_MINUTES * 60
    assert_error(clusters(account, good), 429, 8)
    # Another address is not throttled.
    assert clusters(account, good, ip="203.0.113.10").status_code == 200


def test_the_throttle_ends_with_its_window(owner, account):
    good = mint(account, owner)
    for _ in range(LIMIT):
        clusters(account, WRONG)
    assert clusters(account, good).status_code == 429
    # As if the window had passed.
    window = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    ManagementKeyFailure.objects.update(window_start=ManagementKeyFailure.objects.get().window_start - window)
    assert clusters(account, good).status_code == 200


def test_right_keys_and_sessions_count_for_nothing(owner, account, client):
    good = mint(account, owner)
    for _ in range(LIMIT + 5):
        assert clusters(account, good).status_code == 200
    assert not ManagementKeyFailure.objects.exists()
    for _ in range(LIMIT):
        clusters(account, WRONG)
    client.force_login(owner)
    assert client.get(url("clusters", account), REMOTE_ADDR="203.0.113.9").status_code == 200


def test_keys_that_are_not_even_ascii_count_as_wrong(account):
    from django.test import Client

    for _ in range(LIMIT):
        Client(headers={"Authorization": "apikey \u00e9\u00e9"}, REMOTE_ADDR="203.0.113.11").get(url("clusters", account))
    assert_error(clusters(account, WRONG, ip="203.0.113.11"), 429, 8)
