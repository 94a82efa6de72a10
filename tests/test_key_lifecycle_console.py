"""A key's life in the console and the management API: roll (new secret shown
once, old one listed and marked until its deadline), disable and enable (in
the audit log), allowlists set at creation (a bad CIDR is refused next to the
field, nothing saved), and lists filtered and sorted by state and last used."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apikeys.models import AdminKey, DatabaseApiKey
from apikeys.services import ROLL_GRACE, key_disable, key_roll
from audit.models import Action, AuditEntry
from tests.fixtures.apikeys import (
    admin_key_url,
    cluster_url,
    create_url,
    form_data,
    key_url,
    make_admin_key,
    make_key,
)
from tests.test_api_support import api_as, assert_error, assert_matches_spec, key_body, post_json, url

SPEC = "database_api_key.v2.swagger.json"


def roll_url(key) -> str:
    return key_url(key, "roll")


# Roll, in the console


def test_rolling_shows_the_new_secret_once_and_lists_both_marked_until_the_deadline(client_of, owner, cluster):
    key, _ = make_key(cluster, by=owner, name="search service", expires_at=timezone.now() + timedelta(days=30))
    client = client_of(owner)
    form = client.get(roll_url(key))
    assert form.status_code == 200 and 'value="24h"' in form.content.decode()
    nonce = form.context["form"].initial["nonce"]

    reveal = client.post(roll_url(key), {"nonce": nonce, "grace": "1h"})
    assert reveal.status_code == 200 and reveal["Cache-Control"].startswith("max-age=0")
    new_key = DatabaseApiKey.objects.get(nonce=nonce)
    page = reveal.content.decode()
    assert str(reveal.context["token"]).endswith(new_key.postfix)
    assert f"The old secret …{key.postfix} keeps working until" in page
    assert (new_key.name, new_key.rules, new_key.expires_at) == (key.name, key.rules, key.expires_at)
    # A reload of the reveal page mints nothing more.
    again = client.post(roll_url(key), {"nonce": nonce, "grace": "1h"})
    assert again.status_code == 303 and DatabaseApiKey.objects.filter(name="search service").count() == 2

    listing = client.get(cluster_url(cluster)).content.decode()
    assert 'data-key-state="rolled"' in listing and 'data-key-state="new-secret"' in listing
    assert AuditEntry.objects.filter(action=Action.DATABASE_KEY_ROLLED, target_id=str(key.id)).exists()

    # Past the deadline the old secret leaves the list (the console's clock moved, no sleeping).
    later = timezone.now() + timedelta(hours=1, seconds=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        listing = client.get(cluster_url(cluster)).content.decode()
    assert f'data-key-id="{new_key.id}"' in listing and f'data-key-id="{key.id}"' not in listing
    assert 'data-key-state="rolled"' not in listing and 'data-key-state="new-secret"' not in listing


def test_a_roll_that_stops_the_old_secret_now_deletes_it(client_of, owner, cluster):
    key, _ = make_key(cluster, by=owner)
    client_of(owner).post(roll_url(key), {"nonce": "n" * 22, "grace": "now"})
    key.refresh_from_db()
    assert key.revoked_at is not None and key.rolled_into.nonce == "n" * 22


def test_a_rolled_or_disabled_key_cannot_be_rolled_again_and_nothing_is_made(client_of, owner, cluster):
    key, _ = make_key(cluster, by=owner)
    key_roll(key=key, grace=ROLL_GRACE["7d"], by=owner)
    response = client_of(owner).post(roll_url(key), {"nonce": "a" * 22, "grace": "1h"})
    assert response.status_code == 400 and "roll its new secret instead" in response.content.decode()
    disabled, _ = make_key(cluster, by=owner, name="disabled key")
    key_disable(key=disabled, by=owner)
    response = client_of(owner).post(roll_url(disabled), {"nonce": "b" * 22, "grace": "1h"})
    assert response.status_code == 400 and "enable it before rolling it" in response.content.decode()
    assert not DatabaseApiKey.objects.filter(nonce__in=["a" * 22, "b" * 22]).exists()


def test_a_bad_grace_choice_is_refused_next_to_the_field(client_of, owner, cluster):
    key, _ = make_key(cluster, by=owner)
    response = client_of(owner).post(roll_url(key), {"nonce": "c" * 22, "grace": "forever"})
    assert response.status_code == 400
    assert 'id="id_grace-error">Choose when the old secret stops working.' in response.content.decode()
    assert DatabaseApiKey.objects.count() == 1


def test_an_admin_key_rolls_with_the_same_flow(client_of, owner, legacy_cluster):
    key, _ = make_admin_key(legacy_cluster, by=owner)
    response = client_of(owner).post(admin_key_url(key, "roll"), {"nonce": "d" * 22, "grace": "24h"})
    assert response.status_code == 200
    new_key = AdminKey.objects.get(nonce="d" * 22)
    assert str(response.context["token"]).endswith(new_key.postfix)
    key.refresh_from_db()
    assert key.rolled_into == new_key and key.retires_at > timezone.now() + timedelta(hours=23)


def test_a_viewer_cannot_roll_disable_or_enable(client_of, viewer, owner, cluster):
    key, _ = make_key(cluster, by=owner)
    client = client_of(viewer)
    assert client.get(roll_url(key)).status_code == 403
    assert client.post(key_url(key, "disable")).status_code == 403
    assert DatabaseApiKey.objects.get(id=key.id).disabled_at is None


# Disable and enable, in the console


def test_disable_and_enable_show_in_lists_on_the_key_page_and_in_the_audit_log(client_of, owner, cluster):
    key, _ = make_key(cluster, by=owner)
    client = client_of(owner)
    assert client.get(key_url(key, "disable")).status_code == 405  # a change is a POST
    response = client.post(key_url(key, "disable"))
    assert response.status_code == 303 and response["Location"] == key.get_absolute_url()
    assert 'data-key-state="disabled"' in client.get(cluster_url(cluster)).content.decode()
    assert "data-enable-key" in client.get(key.get_absolute_url()).content.decode()
    client.post(key_url(key, "enable"))
    assert 'data-key-state="disabled"' not in client.get(cluster_url(cluster)).content.decode()
    actions = list(AuditEntry.objects.filter(target_id=str(key.id)).order_by("created_at")
                   .values_list("action", flat=True))
    assert actions == [Action.DATABASE_KEY_CREATED, Action.DATABASE_KEY_DISABLED, Action.DATABASE_KEY_ENABLED]


# Allowlists, in the console


def test_a_key_is_created_with_an_allowlist_of_ipv4_and_ipv6_networks(client_of, owner, cluster):
    client_of(owner).post(create_url(cluster), form_data(allowed_networks="203.0.113.0/24\n2001:db8::/32, 198.51.100.7"))
    key = DatabaseApiKey.objects.get()
    assert key.allowed_networks == ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]
    assert "<code>2001:db8::/32</code>" in client_of(owner).get(key.get_absolute_url()).content.decode()


@pytest.mark.parametrize("bad, says", [
    ("10.0.0.1/24", "Did you mean 10.0.0.0/24?"),
    ("not-a-network", "not-a-network is not an IPv4 or IPv6 address or network in CIDR notation"),
    ("2001:db8::/129", "2001:db8::/129 is not an IPv4 or IPv6 address"),
])
def test_a_bad_cidr_is_refused_next_to_the_field_and_nothing_is_saved(client_of, owner, cluster, bad, says):
    response = client_of(owner).post(create_url(cluster), form_data(allowed_networks=f"192.0.2.0/24\n{bad}"))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_allowed_networks-error"' in page and says in page
    assert not DatabaseApiKey.objects.exists()


# Lists: state, last used, order


def used(key, when, ip="192.0.2.1", protocol="rest"):
    DatabaseApiKey.objects.filter(id=key.id).update(last_used_at=when, last_used_ip=ip, last_used_protocol=protocol)


def listed_names(client, cluster, query: str) -> list[str]:
    page = client.get(f"{cluster_url(cluster)}?{query}").content.decode()
    return [key.name for key in DatabaseApiKey.objects.all() if f'data-key-id="{key.id}"' in page]


def test_the_cluster_list_filters_and_sorts_by_state_and_last_used(client_of, owner, cluster):
    jan, mar = datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    old, _ = make_key(cluster, by=owner, name="used in january")
    recent, _ = make_key(cluster, by=owner, name="used in march")
    make_key(cluster, by=owner, name="never used")
    off, _ = make_key(cluster, by=owner, name="switched off")
    used(old, jan)
    used(recent, mar, protocol="grpc")
    key_disable(key=off, by=owner)
    client = client_of(owner)
    assert set(listed_names(client, cluster, "last_used=never")) == {"never used", "switched off"}
    assert listed_names(client, cluster, "last_used_after=2026-02-01") == ["used in march"]
    assert listed_names(client, cluster, "last_used_before=2026-02-01") == ["used in january"]
    assert listed_names(client, cluster, "state=disabled") == ["switched off"]
    page = client.get(f"{cluster_url(cluster)}?order=last_used").content.decode()
    assert page.index("used in march") < page.index("used in january") < page.index("never used")
    assert "over gRPC" in page
    bad = client.get(f"{cluster_url(cluster)}?last_used_after=someday")
    assert bad.status_code == 200 and "Enter a valid date." in bad.content.decode()


# The management API


def test_the_api_rolls_a_key_and_answers_both_in_the_spec_shape(owner, account, cluster):
    key, _ = make_key(cluster, by=owner)
    client = api_as(owner, account)
    path = url("database-api-key-roll", account, database_api_key_id=key.id)
    response = post_json(client, path, {"oldKeyStopsIn": "ROLL_GRACE_1_HOUR"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert_matches_spec(body["databaseApiKey"], SPEC, "v2DatabaseApiKey")
    assert_matches_spec(body["rolledDatabaseApiKey"], SPEC, "v2DatabaseApiKey")
    assert body["databaseApiKey"]["key"].endswith(body["databaseApiKey"]["postfix"])
    assert body["rolledDatabaseApiKey"]["state"] == "KEY_STATE_ROLLED"
    assert body["rolledDatabaseApiKey"]["rolledIntoId"] == body["databaseApiKey"]["id"]
    assert "key" not in body["rolledDatabaseApiKey"]
    again = post_json(client, path, {"oldKeyStopsIn": "ROLL_GRACE_1_HOUR"})
    assert_error(again, 400, 9, "roll its new secret instead")
    assert_error(post_json(client, path, {"oldKeyStopsIn": "SOON"}), 400, 3, "oldKeyStopsIn")


def test_the_api_disables_and_enables_and_another_accounts_key_is_not_found(owner, account, cluster, other_cluster):
    key, _ = make_key(cluster, by=owner)
    client = api_as(owner, account)
    response = post_json(client, url("database-api-key-disable", account, database_api_key_id=key.id), {})
    assert response.status_code == 200 and response.json()["databaseApiKey"]["state"] == "KEY_STATE_DISABLED"
    response = post_json(client, url("database-api-key-enable", account, database_api_key_id=key.id), {})
    assert response.json()["databaseApiKey"]["state"] == "KEY_STATE_ACTIVE"
    foreign, _ = make_key(other_cluster)
    assert_error(post_json(client, url("database-api-key-disable", account, database_api_key_id=foreign.id), {}),
                 404, 5)
    assert DatabaseApiKey.objects.get(id=foreign.id).disabled_at is None


def test_the_api_creates_with_an_allowlist_and_refuses_a_bad_cidr(owner, account, cluster):
    client = api_as(owner, account)
    keys = url("database-api-keys", account)
    response = post_json(client, keys, key_body(cluster, allowedNetworks=["2001:db8::/32", "192.0.2.9"]))
    assert response.json()["databaseApiKey"]["allowedNetworks"] == ["2001:db8::/32", "192.0.2.9/32"]
    assert_error(post_json(client, keys, key_body(cluster, name="second key", allowedNetworks=["10.0.0.1/8"])),
                 400, 3, "allowedNetworks", "Did you mean 10.0.0.0/8?")
    assert DatabaseApiKey.objects.count() == 1


def test_the_api_list_filters_by_state_and_last_used_and_orders(owner, account, cluster):
    old, _ = make_key(cluster, by=owner, name="used in january")
    recent, _ = make_key(cluster, by=owner, name="used in march")
    make_key(cluster, by=owner, name="never used")
    used(old, datetime(2026, 1, 10, tzinfo=UTC))
    used(recent, datetime(2026, 3, 10, tzinfo=UTC), ip="2001:db8::1", protocol="grpc")
    client = api_as(owner, account)
    keys = url("database-api-keys", account)

    def names(query):
        response = client.get(f"{keys}?{query}")
        assert response.status_code == 200, response.content
        return [item["name"] for item in response.json()["items"]]

    assert names("neverUsed=true") == ["never used"]
    assert names("lastUsedAfter=2026-02-01") == ["used in march"]
    assert names("lastUsedBefore=2026-02-01") == ["used in january"]
    assert names("orderBy=lastUsedAt%20desc") == ["used in march", "used in january", "never used"]
    assert names("state=KEY_STATE_ACTIVE&orderBy=name") == ["never used", "used in january", "used in march"]
    item = client.get(f"{keys}?lastUsedAfter=2026-02-01").json()["items"][0]
    assert (item["lastUsedIp"], item["lastUsedProtocol"]) == ("2001:db8::1", "PROTOCOL_GRPC")
    assert_error(client.get(f"{keys}?lastUsedAfter=soon"), 400, 3, "lastUsedAfter")
    assert_error(client.get(f"{keys}?state=SLEEPING"), 400, 3, "state")


def test_the_roll_page_of_a_key_that_cannot_roll_says_why_before_any_submit(client_of, owner, cluster):
    key, _ = make_key(cluster)
    key_disable(key=key, by=owner)
    response = client_of(owner).get(roll_url(key))
    assert response.status_code == 200
    assert "This key is disabled: enable it before rolling it." in response.content.decode()
