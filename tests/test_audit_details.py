"""The audit log keeps what it records: details whole (on the page and in the
CSV), key entries that say which key of which cluster, and entries that read
as cards on a phone."""

import csv
import io

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import CustomRole
from accounts.roles import PERMISSIONS
from apikeys.services import database_key_delete
from audit.models import Action, AuditEntry
from tests.conftest import make_cluster
from tests.fixtures.apikeys import make_key
from tests.fixtures.browser import log_in

PHONE = {"width": 390, "height": 844}
IP = "2001:db8:85a3:1234:5678:8a2e:370:7334"  # a long one: the first to be cut


def log_url(account) -> str:
    return reverse("audit:log", kwargs={"account_id": account.id})


def export(client, account) -> list[dict]:
    response = client.get(reverse("audit:export", kwargs={"account_id": account.id}))
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_long_detail_is_kept_whole_on_the_page_and_in_the_csv(client_of, owner, account):
    client = client_of(owner)
    every = sorted(PERMISSIONS)
    client.post(reverse("accounts:role-create", kwargs={"account_id": account.id}),
                {"name": "Everything", "permissions": every})

    entry = AuditEntry.objects.get(action=Action.ROLE_CREATED)
    whole = ", ".join(CustomRole.objects.get(name="Everything").permissions)
    assert len(whole) > 255 and entry.detail == whole
    assert f"data-audit-detail>{whole}</span>" in client.get(log_url(account)).content.decode()
    assert [row["detail"] for row in export(client, account) if row["action"] == Action.ROLE_CREATED] == [whole]


def test_key_entries_name_the_key_by_its_postfix_and_its_cluster(client_of, owner, account):
    east, west = make_cluster(account, "east"), make_cluster(account, "west")
    keys = [make_key(cluster, by=owner, name="bad allow")[0] for cluster in (east, east, west)]
    database_key_delete(key=keys[0], by=owner)

    names = {f"bad allow (…{key.postfix}) on {key.cluster.name}" for key in keys}
    created = AuditEntry.objects.filter(action=Action.DATABASE_KEY_CREATED)
    assert set(created.values_list("target_name", flat=True)) == names and len(names) == 3
    deleted = AuditEntry.objects.get(action=Action.DATABASE_KEY_DELETED)
    assert deleted.target_name == f"bad allow (…{keys[0].postfix}) on east"
    client = client_of(owner)
    page = client.get(log_url(account)).content.decode()
    assert all(name in page for name in names)
    assert {row["target"] for row in export(client, account) if row["target_type"] == "Database API key"} == names


@pytest.mark.browser
def test_on_a_phone_each_entry_is_a_card_with_words_and_the_address_whole(page, owner, account):
    AuditEntry.objects.create(account=account, actor=owner, actor_name=owner.username, action=Action.ROLE_CHANGED,
                              target_type="customrole", target_id="x", target_name="Deployers",
                              detail="−write:users; −delete:users; +read:clusters", client_ip=IP)
    page.set_viewport_size(PHONE)
    log_in(page, owner)
    page.goto(log_url(account))
    row = page.locator('[data-audit-entries] tbody tr[data-action="role.changed"]')
    expect(row).to_be_visible()
    row_box = row.bounding_box()
    assert row.evaluate("(tr) => getComputedStyle(tr).display") == "block"  # a card, not a table row
    for cell in row.locator("td").all():
        box = cell.bounding_box()
        assert box["x"] >= row_box["x"] - 1 and box["x"] + box["width"] <= row_box["x"] + row_box["width"] + 1
    ip = row.locator("td.audit-ip")
    assert ip.evaluate("(td) => td.scrollWidth <= td.clientWidth")
    lines = ip.evaluate("(td) => new Set([...td.getClientRects()].map((r) => Math.round(r.top))).size")
    assert IP in ip.inner_text() and lines == 1
    # Words are whole: no word of the detail is broken across lines.
    detail = row.locator("[data-audit-detail]")
    broken = detail.evaluate("""(span) => {
        const range = document.createRange(), text = span.firstChild, tops = [];
        for (let i = 0; i < text.length; i++) { range.setStart(text, i); range.setEnd(text, i + 1);
            tops.push(Math.round(range.getBoundingClientRect().top)); }
        return [...text.data].some((c, i) => i > 0 && c !== " " && text.data[i - 1] !== " " && tops[i] !== tops[i - 1]);
    }""")
    assert not broken
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
