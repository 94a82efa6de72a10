"""Expiry reminders: 7 days and 1 day before a key expires, its creator and the
account's owners get one email each, exactly once (also with two runs of the
task at the same time, in a real Celery worker), and the console shows the
"Expires in N days" badge and a banner on the cluster page. The clock is
moved by the time given to the task, never by sleeping."""

from datetime import timedelta

import pytest
from celery import group
from django.utils import timezone

from apikeys.models import ExpiryReminder
from apikeys.reminders import send_expiry_reminders
from apikeys.tasks import expiry_reminders_task
from tests.conftest import make_user
from tests.fixtures.apikeys import cluster_url, make_admin_key, make_key


@pytest.fixture
def expiring(cluster, developer, owner):
    """A key that developer made, expiring in 10 days; owner owns the account."""
    key, token = make_key(cluster, by=developer, name="nightly batch", expires_at=timezone.now() + timedelta(days=10))
    key.token = token
    return key


def test_creator_and_owners_are_reminded_7_days_then_1_day_before_exactly_once(expiring, mailoutbox, account):
    from accounts.roles import Role

    second_owner = make_user("olga", account, Role.OWNER)
    expires = expiring.expires_at
    assert send_expiry_reminders(now=expires - timedelta(days=8)) == 0 and mailoutbox == []

    assert send_expiry_reminders(now=expires - timedelta(days=6, hours=23)) == 1
    assert send_expiry_reminders(now=expires - timedelta(days=6)) == 0  # the next hourly run
    (week,) = mailoutbox
    assert sorted(week.to) == sorted(["dora@example.com", "alice@example.com", second_owner.email])
    assert "nightly batch" in week.subject and "in 6 days, 23 hours" in week.subject
    assert f"…{expiring.postfix}" in week.body and expiring.token not in week.body + week.subject

    assert send_expiry_reminders(now=expires - timedelta(hours=23)) == 1
    assert send_expiry_reminders(now=expires - timedelta(hours=2)) == 0
    assert len(mailoutbox) == 2 and "expires in 23 hours" in mailoutbox[1].subject
    assert send_expiry_reminders(now=expires + timedelta(hours=1)) == 0  # expired: nothing more


def test_a_key_first_seen_inside_the_last_day_gets_only_the_1_day_reminder(cluster, owner, mailoutbox):
    key, _ = make_key(cluster, by=owner, expires_at=timezone.now() + timedelta(hours=20))
    assert send_expiry_reminders() == 1
    assert list(ExpiryReminder.objects.values_list("days", flat=True)) == [1]
    assert "expires in 19 hours, 59 minutes" in mailoutbox[0].subject


def test_admin_keys_are_reminded_and_deleted_keys_are_not(legacy_cluster, cluster, owner, mailoutbox):
    from apikeys.services import database_key_delete

    make_admin_key(legacy_cluster, by=owner, name="legacy admin", expires_at=timezone.now() + timedelta(days=3))
    gone, _ = make_key(cluster, by=owner, name="gone key", expires_at=timezone.now() + timedelta(days=3))
    database_key_delete(key=gone, by=owner)
    assert send_expiry_reminders() == 1 and "legacy admin" in mailoutbox[0].subject


def test_lists_show_a_badge_and_the_cluster_page_a_banner(client_of, owner, cluster):
    make_key(cluster, by=owner, name="soon gone", expires_at=timezone.now() + timedelta(days=5, hours=12))
    make_key(cluster, by=owner, name="lasts long", expires_at=timezone.now() + timedelta(days=30))
    page = client_of(owner).get(cluster_url(cluster)).content.decode()
    assert "Expires in 5 days, 11 hours" in page and page.count("data-expires-soon") == 1
    banner = page[page.index("data-expiry-banner"):page.index("</section>", page.index("data-expiry-banner"))]
    assert "soon gone" in banner and "lasts long" not in banner and "1 key of this cluster expires" in banner


@pytest.mark.worker
def test_two_concurrent_runs_in_a_real_worker_send_each_reminder_once(worker, cluster, owner, developer):
    keys = [make_key(cluster, by=developer, name=f"key {i:02d}", expires_at=timezone.now() + timedelta(days=9))[0]
            for i in range(12)]
    at = (keys[0].expires_at - timedelta(days=6, hours=12)).isoformat()
    sent = group(expiry_reminders_task.s(at), expiry_reminders_task.s(at)).apply_async().get(timeout=60)
    assert sum(sent) == len(keys)
    assert ExpiryReminder.objects.filter(days=7).count() == len(keys)
    # The clock moves on past the 1-day threshold: again both runs at once, once each.
    at = (keys[0].expires_at - timedelta(hours=12)).isoformat()
    sent = group(expiry_reminders_task.s(at), expiry_reminders_task.s(at)).apply_async().get(timeout=60)
    assert sum(sent) == len(keys) and ExpiryReminder.objects.filter(days=1).count() == len(keys)


def test_a_reminder_says_the_time_really_left_and_links_to_the_key(cluster, owner, mailoutbox, settings):
    settings.CONSOLE_URL = "https://console.example.com"
    three, _ = make_key(cluster, by=owner, name="in three", expires_at=timezone.now() + timedelta(days=3, hours=5))
    make_key(cluster, by=owner, name="in six", expires_at=timezone.now() + timedelta(days=6, hours=5))
    assert send_expiry_reminders() == 2
    subjects = {mail.subject.split(" of ")[0]: mail.subject for mail in mailoutbox}
    assert subjects["The database API key in three"].endswith("expires in 3 days, 4 hours")
    assert subjects["The database API key in six"].endswith("expires in 6 days, 4 hours")
    mail = next(mail for mail in mailoutbox if "in three" in mail.subject)
    assert f"https://console.example.com{three.get_absolute_url()}" in mail.body


def test_a_badge_never_rounds_up(client_of, owner, cluster):
    make_key(cluster, by=owner, name="soon", expires_at=timezone.now() + timedelta(days=3, minutes=10))
    page = client_of(owner).get(cluster_url(cluster)).content.decode()
    assert "Expires in 3 days" in page and "Expires in 4 days" not in page
