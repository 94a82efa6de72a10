"""An account's key policy: owners set it; every new key of every kind meets it, in
the console and through the API, refused with the rule; older keys are flagged."""

import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from createonce.forms import new_nonce
from apikeys.key_policy import key_policy_set
from apikeys.models import AdminKey, DatabaseApiKey, KeyPolicy
from audit.models import Action, AuditEntry
from managementkeys.models import ManagementKey
from managementkeys.services import management_key_create
from tests.fixtures.apikeys import make_key
from tests.test_api_support import api_as, assert_error, key_body, post_json, url

STRICT = {"database_key_max_days": 90, "admin_key_max_days": 30, "management_key_max_days": 7,
          "allow_no_expiry": False, "manage_keys_need_allowlist": True, "management_keys_need_allowlist": True}


def policy_url(account) -> str:
    return reverse("apikeys:key-policy", kwargs={"account_id": account.id})


def in_days(days: float) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


def policy_form(**fields) -> dict:
    values = {k: "" if v is None else v for k, v in (STRICT | fields).items()}
    return {k: v for k, v in values.items() if v is not False}  # an unticked box is not posted


def test_an_owner_sets_the_policy_and_it_is_audited(client_of, owner, account):
    response = client_of(owner).post(policy_url(account), policy_form())
    assert response.status_code == 303
    policy = KeyPolicy.objects.get(account=account)
    assert (policy.database_key_max_days, policy.admin_key_max_days, policy.management_key_max_days) == (90, 30, 7)
    assert not policy.allow_no_expiry and policy.manage_keys_need_allowlist and policy.management_keys_need_allowlist
    entry = AuditEntry.objects.get(action=Action.KEY_POLICY_CHANGED)
    assert entry.actor == owner and "database key max days: no limit → 90 days" in entry.detail


def test_only_an_owner_changes_it_and_members_read_it(client_of, admin, developer, account):
    assert client_of(admin).post(policy_url(account), policy_form()).status_code == 403
    page = client_of(developer).get(policy_url(account))
    assert page.status_code == 200 and "Only an owner" in page.content.decode()
    assert not KeyPolicy.objects.exists()


def test_bad_values_are_refused_next_to_the_field(client_of, owner, account):
    response = client_of(owner).post(policy_url(account), policy_form(database_key_max_days="0",
                                                                      management_key_max_days="soon"))
    page = response.content.decode()
    assert response.status_code == 400 and not KeyPolicy.objects.exists()
    assert re.search(r'<p class="error" id="id_database_key_max_days-error"[^>]*>At least 1 day', page)
    assert 'id="id_management_key_max_days-error"' in page


def test_the_api_refuses_keys_that_break_it_with_the_rule(owner, account, cluster):
    client = api_as(owner, account)  # made before the policy: it still works
    key_policy_set(account=account, by=owner, **STRICT)
    create = url("database-api-keys", account)
    assert_error(post_json(client, create, key_body(cluster, expiresAt=in_days(91),
                                                    allowedNetworks=["10.0.0.0/8"])),
                 400, 3, "databaseApiKey.expiresAt", "database API keys expire within 90 days")
    assert_error(post_json(client, create, key_body(cluster, allowedNetworks=["10.0.0.0/8"])), 400, 3,
                 "give an expiry")
    # No rules: global manage access, which needs allowed addresses.
    assert_error(post_json(client, create, key_body(cluster, expiresAt=in_days(30))), 400, 3,
                 "databaseApiKey.allowedNetworks", "keys with manage access need allowed addresses")
    read_only = key_body(cluster, expiresAt=in_days(30),
                         accessRules=[{"globalAccess": {"accessType": "GLOBAL_ACCESS_RULE_ACCESS_TYPE_READ_ONLY"}}])
    assert post_json(client, create, read_only).status_code == 200

    management = url("management-keys", account)
    assert_error(post_json(client, management, {"managementKey": {"expiresAt": in_days(8),
                                                                  "allowedNetworks": ["10.0.0.0/8"]}}),
                 400, 3, "managementKey.expiresAt", "management keys expire within 7 days")
    assert_error(post_json(client, management, {"managementKey": {"expiresAt": in_days(6)}}), 400, 3,
                 "managementKey.allowedNetworks", "management keys need allowed addresses")
    assert DatabaseApiKey.objects.count() == 1 and ManagementKey.objects.count() == 1  # the client's own


def test_without_limits_keys_without_expiry_can_still_be_refused(owner, account, cluster):
    client = api_as(owner, account)
    key_policy_set(account=account, by=owner, allow_no_expiry=False)
    assert_error(post_json(client, url("database-api-keys", account), key_body(cluster)), 400, 3,
                 "every key needs an expiry")
    assert post_json(client, url("database-api-keys", account),
                     key_body(cluster, expiresAt=in_days(3000))).status_code == 200


def test_the_console_shows_the_limits_and_the_rule_next_to_the_field(client_of, owner, account, cluster,
                                                                     legacy_cluster):
    key_policy_set(account=account, by=owner, **STRICT)
    client = client_of(owner)
    create = reverse("apikeys:create", kwargs={"account_id": account.id, "cluster_id": cluster.id})
    form = client.get(create).content.decode()
    assert "Database API keys expire within 90 days." in form and 'data-rule-max="90"' in form
    assert "Keys with cluster-wide Manage/Write access need allowed addresses." in form

    refused = client.post(create, {"nonce": new_nonce(), "name": "too long", "expires_in_days": "120",
                                   "scope": "cluster", "cluster_access": "m", "allowed_networks": "10.0.0.0/8"})
    page = refused.content.decode()
    assert refused.status_code == 400 and not DatabaseApiKey.objects.exists()
    assert re.search(r'id="id_expires_in_days-error"[^>]*>The account&#x27;s key policy: database API keys expire '
                     r"within 90 days", page)

    admin = reverse("apikeys:admin-create", kwargs={"account_id": account.id, "cluster_id": legacy_cluster.id})
    refused = client.post(admin, {"nonce": new_nonce(), "name": "open admin", "expires_in_days": "10"})
    assert refused.status_code == 400 and 'id="id_allowed_networks-error"' in refused.content.decode()
    assert not AdminKey.objects.exists()

    management = reverse("managementkeys:create", kwargs={"account_id": account.id})
    assert "Management keys expire within 7 days." in client.get(management).content.decode()
    refused = client.post(management, {"nonce": new_nonce(), "name": "forever", "expires_in_days": "",
                                       "permissions": ["read:clusters"], "cluster_scope": "all",
                                       "allowed_networks": "10.0.0.0/8"})
    assert refused.status_code == 400 and "give an expiry" in refused.content.decode()
    assert not ManagementKey.objects.exists()


def test_keys_made_before_the_policy_keep_working_and_are_listed(client_of, owner, account, cluster):
    old, _ = make_key(cluster)  # cluster-wide manage, from anywhere
    open_key, _ = management_key_create(name="open key", account=account, by=owner)
    fine, _ = management_key_create(name="fine key", account=account, by=owner, allowed_networks=["10.0.0.0/8"],
                                    expires_at=timezone.now() + timedelta(days=3))
    key_policy_set(account=account, by=owner, **STRICT)

    page = client_of(owner).get(policy_url(account)).content.decode()
    listed = set(re.findall(r'data-breaking-key="([^"]+)"', page))
    assert listed == {str(old.id), str(open_key.id)}
    assert "management keys need allowed addresses" in page
    # They are flagged where they are listed, not revoked.
    keys_page = client_of(owner).get(reverse("managementkeys:list", kwargs={"account_id": account.id})).content
    row = re.search(rf'<tr data-key-id="{open_key.id}">.*?</tr>', keys_page.decode(), re.S)[0]
    assert 'data-key-state="breaks-policy"' in row
    fine_row = re.search(rf'<tr data-key-id="{fine.id}">.*?</tr>', keys_page.decode(), re.S)[0]
    assert 'data-key-state="breaks-policy"' not in fine_row
    cluster_page = client_of(owner).get(reverse("clusters:detail", kwargs={"account_id": account.id,
                                                                           "cluster_id": cluster.id}))
    assert 'data-key-state="breaks-policy"' in cluster_page.content.decode()
    DatabaseApiKey.objects.get(id=old.id, revoked_at__isnull=True)
