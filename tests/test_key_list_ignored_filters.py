"""A filter value a key list does not know (`?state=bogus`, a bad date) is
named above the list as ignored, and the valid filters still apply."""

from apikeys.services import key_disable
from tests.fixtures.apikeys import account_keys_url, cluster_url, make_key


def notes(page: str) -> str:
    assert page.count("data-ignored-filters") == 1, "no note of ignored filters"
    start = page.index("data-ignored-filters")
    return page[start:page.index("</ul>", start)]


def test_the_api_keys_page_names_each_ignored_filter_and_applies_the_valid_ones(client_of, owner, cluster):
    make_key(cluster, by=owner, name="still on")
    off, _ = make_key(cluster, by=owner, name="switched off")
    key_disable(key=off, by=owner)
    page = client_of(owner).get(account_keys_url(cluster.account) + "?state=disabled&last_used=bogus"
                                "&last_used_after=2026-13-40").content.decode()
    said = notes(page)
    assert "Last used: “bogus” is not one of the choices" in said
    assert "Used on or after: “2026-13-40” is not a date" in said and "State" not in said
    assert "switched off" in page and "still on" not in page  # state=disabled still applies


def test_the_cluster_page_names_an_unknown_state(client_of, owner, cluster):
    make_key(cluster, by=owner, name="a key")
    page = client_of(owner).get(cluster_url(cluster) + "?state=bogus").content.decode()
    assert "State: “bogus” is not one of the choices" in notes(page)
    assert "a key" in page


def test_no_note_without_bad_values(client_of, owner, cluster):
    make_key(cluster, by=owner, name="a key")
    assert "data-ignored-filters" not in client_of(owner).get(account_keys_url(cluster.account) + "?state=active").content.decode()
