"""The audit log: every write with its actor (a user, a management key by name
and prefix, or the system), target, client address and time; filters, pages,
CSV export; entries never changed or deleted but by the retention task."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEntry, ImmutableEntry
from audit.services import audit_record
from audit.tasks import audit_prune_task
from tests.conftest import PASSWORD
from tests.test_api_support import api_client, key_body, mint, post_json, url
from tests.test_clusters import create_url as cluster_create_url
from tests.test_clusters import valid_form as cluster_form

IP = "203.0.113.7"


def log_url(account, **query) -> str:
    from urllib.parse import urlencode

    base = reverse("audit:log", kwargs={"account_id": account.id})
    return f"{base}?{urlencode(query)}" if query else base


def export_url(account, **query) -> str:
    from urllib.parse import urlencode

    return reverse("audit:export", kwargs={"account_id": account.id}) + (f"?{urlencode(query)}" if query else "")


def backdate(entry, days: int) -> None:
    # The application cannot change an entry; a test reaches past it with
    # the model's plain base manager to make an entry old.
    AuditEntry._base_manager.filter(pk=entry.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_an_entry_cannot_be_changed_or_deleted(owner, account, cluster):
    entry = audit_record(account=account, action=Action.CLUSTER_CREATED, target=cluster, actor=owner)
    entry.target_name = "forged"
    with pytest.raises(ImmutableEntry):
        entry.save()
    with pytest.raises(ImmutableEntry):
        entry.delete()
    with pytest.raises(ImmutableEntry):
        AuditEntry.objects.filter(pk=entry.pk).update(target_name="forged")
    with pytest.raises(ImmutableEntry):
        AuditEntry.objects.all().delete()
    with pytest.raises(ImmutableEntry):
        account.audit_entries.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).target_name == "prod-search"


def test_retention_prunes_only_entries_older_than_the_setting(owner, account, cluster):
    old = audit_record(account=account, action=Action.CLUSTER_CREATED, target=cluster, actor=owner)
    recent = audit_record(account=account, action=Action.CLUSTER_CREATED, target=cluster, actor=owner)
    backdate(old, days=31)
    backdate(recent, days=29)

    settings.AUDIT_RETENTION_DAYS = None
    assert audit_prune_task() == 0 and AuditEntry.objects.filter(pk=old.pk).exists()  # the default keeps everything

    settings.AUDIT_RETENTION_DAYS = 30
    try:
        assert audit_prune_task() == 1
    finally:
        settings.AUDIT_RETENTION_DAYS = None
    assert not AuditEntry.objects.filter(pk=old.pk).exists() and AuditEntry.objects.filter(pk=recent.pk).exists()


def test_beat_runs_the_prune_task_by_its_name():
    assert settings.CELERY_BEAT_SCHEDULE["prune-audit-log"]["task"] == audit_prune_task.name == "audit.tasks.audit_prune_task"


def test_a_cluster_created_in_the_console_is_audited_with_the_user_and_address(client_of, owner, account):
    client_of(owner).post(cluster_create_url(account), cluster_form(name="search-eu"), REMOTE_ADDR=IP)
    entry = AuditEntry.objects.get(action=Action.CLUSTER_CREATED, target_name="search-eu")
    assert (entry.actor, entry.actor_label, entry.client_ip, entry.target_label) == (owner, "alice", IP, "Cluster")


def test_work_without_a_user_is_the_systems(account, cluster):
    entry = AuditEntry.objects.get(action=Action.CLUSTER_CREATED, target_id=str(cluster.id))  # made by a fixture
    assert entry.actor is None and entry.actor_label == "system" and entry.actor_kind == "system"


def test_logins_and_failed_logins_are_audited(client, owner, account):
    client.post("/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR=IP)
    client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=IP)
    failed = AuditEntry.objects.get(action=Action.LOGIN_FAILED)
    assert failed.account == account and failed.target_name == "alice" and failed.actor is None
    assert failed.client_ip == IP and failed.actor_name == "unknown" and failed.actor_kind == "unknown"
    login = AuditEntry.objects.get(action=Action.LOGIN)
    assert login.actor == owner and login.client_ip == IP
    assert "wrong" not in str(vars(failed)) and PASSWORD not in str(vars(login))


def test_api_writes_name_the_management_key_they_came_through(owner, account, cluster, client_of):
    from managementkeys.models import ManagementKey

    plaintext = mint(account, owner)
    key = ManagementKey.objects.get(prefix=plaintext.split(".")[0])
    client = api_client(plaintext, REMOTE_ADDR=IP)
    created = post_json(client, url("database-api-keys", account), key_body(cluster)).json()["databaseApiKey"]
    client.delete(url("database-api-key", account, database_api_key_id=created["id"]))
    made = post_json(client, url("management-keys", account), {"managementKey": {"name": "nested"}})
    assert made.status_code == 200

    entries = AuditEntry.objects.filter(client_ip=IP).order_by("created_at")
    assert [e.action for e in entries] == [
        Action.DATABASE_KEY_CREATED,
        Action.DATABASE_KEY_DELETED,
        Action.MANAGEMENT_KEY_CREATED,
    ]
    for entry in entries:
        assert entry.actor == owner and entry.via_key == key
        assert entry.via_key_name == f"test key ({key.prefix}…)"
        assert entry.actor_label == f"test key ({key.prefix}…), a management key of alice"
    # The log shows that label (the model's, not one of its own).
    page = client_of(owner).get(log_url(account)).content.decode()
    assert page.count(f"test key ({key.prefix}…), a management key of alice") == 3
    # the console's own writes afterwards name no key
    later = audit_record(account=account, action=Action.CLUSTER_CREATED, target=cluster, actor=owner)
    assert later.via_key is None and later.actor_kind == "user"


@pytest.fixture
def busy_log(owner, viewer, account, cluster):
    """Entries of several actors, actions, targets and days."""
    first = audit_record(account=account, action=Action.MEMBER_REMOVED, target=viewer.memberships.get(), actor=owner)
    backdate(first, days=10)
    audit_record(account=account, action=Action.DATABASE_KEY_CREATED, target=cluster, actor=viewer, client_ip=IP)
    return account


def rows(response) -> list[str]:
    return response.content.decode().split("<tr data-action=")[1:]


def test_the_log_filters_by_actor_action_target_and_dates(client_of, owner, busy_log):
    client = client_of(owner)
    account = busy_log
    assert len(rows(client.get(log_url(account, actor="victor")))) == 1
    assert len(rows(client.get(log_url(account, actor="system")))) == 1  # the fixture's cluster
    assert len(rows(client.get(log_url(account, action=Action.MEMBER_REMOVED)))) == 1
    assert len(rows(client.get(log_url(account, target="victor")))) == 1
    today = timezone.now().date()
    ten_days_ago = today - timedelta(days=10)
    old = rows(client.get(log_url(account, since=ten_days_ago.isoformat(), until=ten_days_ago.isoformat())))
    assert len(old) == 1 and "Member removed" in old[0]
    bad = client.get(log_url(account, since=today.isoformat(), until=ten_days_ago.isoformat()))
    assert "is after" in bad.content.decode()


def test_the_log_pages_keep_the_filters(client_of, owner, account, cluster):
    for _ in range(55):
        audit_record(account=account, action=Action.DATABASE_KEY_CREATED, target=cluster, actor=owner)
    page = client_of(owner).get(log_url(account, action=Action.DATABASE_KEY_CREATED))
    assert len(rows(page)) == 50
    assert "action=database_key.created&amp;page=2" in page.content.decode()
    second = client_of(owner).get(log_url(account, action=Action.DATABASE_KEY_CREATED, page=2))
    assert len(rows(second)) == 5


def test_csv_export_holds_what_the_filters_select(client_of, owner, busy_log):
    response = client_of(owner).get(export_url(busy_log, actor="victor"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(table) == 1
    assert table[0]["actor"] == "victor" and table[0]["action"] == "database_key.created"
    assert table[0]["client_ip"] == IP and table[0]["actor_kind"] == "user"


def test_csv_export_defuses_formulas(client_of, owner, account, cluster):
    from clusters.models import Cluster

    Cluster.objects.filter(pk=cluster.pk).update(name="=HYPERLINK(1)")
    cluster.refresh_from_db()
    audit_record(account=account, action=Action.CLUSTER_CREATED, target=cluster, actor=owner)
    body = b"".join(client_of(owner).get(export_url(account, actor="alice")).streaming_content).decode()
    assert "'=HYPERLINK(1)" in body


def test_the_log_and_its_export_need_read_audit_logs(client_of, developer, account):
    assert client_of(developer).get(log_url(account)).status_code == 403
    assert client_of(developer).get(export_url(account)).status_code == 403


def test_entries_outlive_the_user_and_the_key_they_name(owner, developer, account, cluster):
    from managementkeys.models import ManagementKey

    plaintext = mint(account, developer)
    post_json(api_client(plaintext), url("database-api-keys", account), key_body(cluster))
    entry = AuditEntry.objects.get(action=Action.DATABASE_KEY_CREATED)
    label = entry.actor_label
    ManagementKey.objects.all().delete()
    developer.delete()
    entry = AuditEntry.objects.get(pk=entry.pk)
    assert entry.actor is None and entry.via_key is None and entry.actor_label == label
    with pytest.raises(ImmutableEntry):
        AuditEntry.objects.filter(pk=entry.pk).update(actor=owner)
