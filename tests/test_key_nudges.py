"""Nudges for keys nobody uses (issue 24): a working key not used for
KEY_UNUSED_DAYS is marked in lists and can be filtered, in the console and
in the management API's list (`unused`, a marked extension); its expiry reminder
says so; the weekly digest to owners names unused keys and keys refused more
than DIGEST_REFUSALS_OVER times, once a week."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from apikeys.digest import send_usage_digests
from apikeys.models import DatabaseApiKey
from apikeys.reminders import send_expiry_reminders
from apikeys.usage import usage_record
from keyset.usage import BUCKETS
from tests.fixtures.apikeys import make_key
from tests.test_api_support import api_as, assert_error, url


def aged(key, days: int, *, used_days_ago: int | None = None):
    now = timezone.now()
    DatabaseApiKey.objects.filter(id=key.id).update(
        created_at=now - timedelta(days=days),
        last_used_at=None if used_days_ago is None else now - timedelta(days=used_days_ago))
    return DatabaseApiKey.objects.get(id=key.id)


def test_unused_keys_are_marked_and_filtered(client_of, owner, account, cluster):
    forgotten = aged(make_key(cluster, by=owner, name="forgotten key")[0], 90, used_days_ago=45)
    never = aged(make_key(cluster, by=owner, name="never used key")[0], 40)
    busy = aged(make_key(cluster, by=owner, name="busy key")[0], 90, used_days_ago=1)
    fresh = make_key(cluster, by=owner, name="fresh key")[0]
    assert (forgotten.unused, never.unused, busy.unused, fresh.unused) == (True, True, False, False)
    list_url = reverse("apikeys:account-list", kwargs={"account_id": account.id})
    page = client_of(owner).get(list_url).content.decode()
    assert page.count("data-unused>Unused for 30+ days") == 2
    filtered = client_of(owner).get(list_url, {"last_used": "unused"}).content.decode()
    assert "forgotten key" in filtered and "never used key" in filtered
    assert "busy key" not in filtered and "fresh key" not in filtered


def test_the_api_list_filters_unused_keys_as_the_console_does(owner, account, cluster, settings):
    aged(make_key(cluster, by=owner, name="forgotten key")[0], 90, used_days_ago=45)
    aged(make_key(cluster, by=owner, name="never used key")[0], 40)
    aged(make_key(cluster, by=owner, name="busy key")[0], 90, used_days_ago=1)
    make_key(cluster, by=owner, name="fresh key")
    client = api_as(owner, account)
    keys = url("database-api-keys", account)

    def names(query: dict) -> set[str]:
        response = client.get(keys, query)
        assert response.status_code == 200, response.content
        return {item["name"] for item in response.json()["items"]}

    assert names({"unused": "true"}) == {"forgotten key", "never used key"}
    assert names({"unused": "false"}) == {"busy key", "fresh key"}
    assert names({"unused": "true", "clusterId": str(cluster.id), "orderBy": "name"}) == {"forgotten key",
                                                                                          "never used key"}
    settings.KEY_UNUSED_DAYS = 42  # read at each request: the key made 40 days ago and never used is not yet
    assert names({"unused": "true"}) == {"forgotten key"}
    assert_error(client.get(keys, {"unused": "yes"}), 400, 3, "unused", "true or false")
    assert_error(client.get(keys, {"unused": "true", "neverUsed": "true"}), 400, 3, "neverUsed")


def test_the_unused_filter_is_a_marked_extension_of_the_list(client, db):
    schema = client.get("/api/schema").json()
    listing = schema["paths"]["/api/cluster/auth/v2/accounts/{accountId}/database-api-keys"]["get"]
    unused = next(parameter for parameter in listing["parameters"] if parameter["name"] == "unused")
    assert unused["in"] == "query" and unused["schema"] == {"type": "boolean"}
    assert unused["x-console-extension"] is True
    assert unused["description"].startswith("Extension (not in Qdrant Cloud's API).")


def test_an_unused_keys_expiry_reminder_says_so(owner, cluster, mailoutbox):
    key = make_key(cluster, by=owner, name="forgotten key", expires_at=timezone.now() + timedelta(days=3))[0]
    aged(key, 60)
    assert send_expiry_reminders() == 1
    assert "has not been used for 30 days or more" in mailoutbox[0].body


def test_the_weekly_digest_names_unused_and_often_refused_keys_once(owner, account, cluster, mailoutbox, settings):
    settings.DIGEST_REFUSALS_OVER = 100
    aged(make_key(cluster, by=owner, name="forgotten key")[0], 60)
    refused = make_key(cluster, by=owner, name="films writer")[0]
    quiet = make_key(cluster, by=owner, name="rarely refused")[0]
    minute = int((timezone.now() - timedelta(hours=2)).timestamp()) // 60
    usage_record([["database", str(key.id), minute, "rest", "403", "Write access to collection films is required",
                   count, [count] + [0] * (BUCKETS - 1)] for key, count in ((refused, 150), (quiet, 100))])
    assert send_usage_digests() == 1
    body = mailoutbox[0].body
    assert mailoutbox[0].to == [owner.email]
    assert "forgotten key" in body and "films writer" in body and "rarely refused" not in body
    assert "150 refusals: 403: Write access to collection films is required ×150" in body
    assert send_usage_digests() == 0 and len(mailoutbox) == 1  # once a week


def test_the_digest_names_keys_used_from_a_new_address(client, owner, account, cluster, mailoutbox):
    import io

    from django.core.management import call_command

    from keyset import wire

    out = io.StringIO()
    call_command("create_front_credential", "edge-1", stdout=out, stderr=io.StringIO())
    headers = {"Authorization": f"Bearer {out.getvalue().strip()}"}
    roaming = make_key(cluster, by=owner, name="roaming key")[0]
    homebody = make_key(cluster, by=owner, name="homebody key")[0]
    now = timezone.now().timestamp()
    month_ago = now - 30 * 86400
    for uses in ([["database", str(roaming.id), month_ago, "10.0.0.5", "rest"],
                  ["database", str(homebody.id), month_ago, "10.0.0.6", "rest"]],
                 [["database", str(roaming.id), now - 60, "198.51.100.23", "grpc"],
                  ["database", str(homebody.id), now - 60, "10.0.0.6", "rest"]]):
        assert client.post(wire.LAST_USED_PATH, uses, content_type="application/json", headers=headers
                           ).status_code == 200
    assert send_usage_digests() == 1
    body = mailoutbox[0].body
    assert "Used from new addresses this week" in body and "roaming key" in body and "198.51.100.23" in body
    assert "homebody key" not in body
