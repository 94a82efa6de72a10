"""The key page's matrix says the rule that really denies an operation: a
read-only collection key is denied cluster admin because only cluster-wide
Manage/Write allows it, not for want of write access to the collection (which
is only the message Qdrant happens to answer with, kept in the cell's title)."""

import httpx

from tests.fixtures.dataplane import MANAGE, collection_rule, mint


def cell(page: str, group: str) -> str:
    start = page.index(f'data-group="{group}"')
    return page[start:page.index("</td>", start)]


def test_a_read_only_collection_key_is_denied_cluster_admin_by_the_rule_that_denies_it(
        cluster, dataplane, owner, client_of):
    _, manage_token = mint(cluster, MANAGE, by=owner, name="seed key")
    httpx.put(f"{dataplane.url}/collections/books", headers={"api-key": manage_token},
              json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
    key, _ = mint(cluster, collection_rule("books", "r"), by=owner, name="books reader")
    page = client_of(owner).get(key.get_absolute_url()).content.decode()

    admin = cell(page, "admin")
    assert 'data-allowed="false"' in admin
    shown = admin[admin.index('class="muted rights-reason"'):]
    assert "Needs Manage/Write on the whole cluster" in shown
    assert ">Write access to collection books is required<" not in shown
    assert 'title="The endpoint answers: Forbidden: Write access to collection books is required"' in admin
    # Where Qdrant's message is the rule, it stays.
    assert "Write access to collection books is required</span>" in cell(page, "write")
