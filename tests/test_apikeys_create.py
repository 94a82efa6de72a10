"""Creating a database API key on the cluster page: the form and what it refuses."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys.models import DatabaseApiKey
from tests.fixtures.apikeys import cluster_url, collections_data, create_url, form_data, make_key


def test_the_form_offers_cluster_wide_manage_and_90_days_by_default(client_of, owner, cluster):
    response = client_of(owner).get(create_url(cluster))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="expires_in_days"' in html and 'value="90"' in html
    assert 'id="id_scope_cluster" checked' in html
    assert 'name="cluster_access" value="m" checked' in html
    expires = (timezone.now() + timedelta(days=90)).strftime("%-d %B %Y")
    assert "The key expires on <time" in html and expires in html


def test_owner_creates_a_cluster_wide_key(client_of, owner, cluster):
    response = client_of(owner).post(create_url(cluster), form_data(name="search service", cluster_access="r"))
    assert response.status_code == 200
    key = DatabaseApiKey.objects.get()
    assert (key.cluster, key.name, key.created_by) == (cluster, "search service", owner)
    assert key.rules == [{"collection": None, "access": "r"}]
    assert abs(key.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)


def test_an_empty_expiry_means_the_key_never_expires(client_of, owner, cluster):
    client_of(owner).post(create_url(cluster), form_data(expires_in_days=""))
    assert DatabaseApiKey.objects.get().expires_at is None


def test_a_key_for_chosen_collections(client_of, owner, cluster):
    client_of(owner).post(create_url(cluster), collections_data(("books", "r"), ("films", "rw"), ("", "r")))
    assert DatabaseApiKey.objects.get().rules == [
        {"collection": "books", "access": "r"},
        {"collection": "films", "access": "rw"},
    ]


def test_the_other_tab_is_ignored_so_a_key_never_has_both_kinds(client_of, owner, cluster):
    client = client_of(owner)
    client.post(create_url(cluster), collections_data(("books", "r"), scope="cluster", cluster_access="r"))
    client.post(create_url(cluster), collections_data(("books", "rw"), cluster_access="m"))
    rules = [key.rules for key in DatabaseApiKey.objects.order_by("created_at")]
    assert rules == [[{"collection": None, "access": "r"}], [{"collection": "books", "access": "rw"}]]


def test_a_cluster_without_collections_offers_a_field_to_type_one(client_of, owner, cluster):
    # Keys naming collections do not make them exist: the list comes from the
    # live cluster (tests/test_dataplane_access.py shows it filled).
    make_key(cluster, rules=[{"collection": "books", "access": "r"}])
    html = client_of(owner).get(create_url(cluster)).content.decode()
    assert 'name="collections_name" value="books"' not in html
    assert 'placeholder="New collection name"' in html


def test_a_collection_that_another_cluster_has_is_just_a_name(client_of, outsider, owner, cluster, other_cluster):
    """Forged or not, naming a collection grants nothing outside this cluster: the key opens this cluster only."""
    make_key(other_cluster, rules=[{"collection": "their-data", "access": "rw"}])
    response = client_of(owner).post(create_url(cluster), collections_data(("their-data", "r")))
    assert response.status_code == 200
    key = DatabaseApiKey.objects.get(cluster=cluster)
    assert key.rules == [{"collection": "their-data", "access": "r"}]


CASES = [
    ("name", {"name": ""}, "Give the key a name."),
    ("name", {"name": "abc"}, "at least 4 characters"),
    ("name", {"name": "   abc  "}, "at least 4 characters"),
    ("name", {"name": "x" * 129}, "at most 128 characters"),
    ("name", {"name": "bad/name"}, "Use only letters A–Z and a–z"),
    ("name", {"name": "<script>"}, "Use only letters A–Z and a–z"),
    ("expires_in_days", {"expires_in_days": "0"}, "at least 1 day"),
    ("expires_in_days", {"expires_in_days": "-5"}, "at least 1 day"),
    ("expires_in_days", {"expires_in_days": "soon"}, "whole number of days"),
    ("expires_in_days", {"expires_in_days": "1.5"}, "whole number of days"),
    ("expires_in_days", {"expires_in_days": "3651"}, "At most 3650 days"),
    ("expires_in_days", {"expires_in_days": "99999999999999999999999"}, "At most 3650 days"),
    ("scope", {"scope": "everything"}, "Select a valid choice"),
    ("scope", {"scope": ""}, "This field is required"),
    ("cluster_access", {"cluster_access": "admin"}, "Unknown access level"),
    ("cluster_access", {"cluster_access": "rw"}, "Unknown access level"),
    ("cluster_access", {"cluster_access": ""}, "Choose Manage/Write or Read-only"),
]

COLLECTION_CASES = [
    ("no collection chosen", [], "Choose at least one collection"),
    ("only empty rows", [("", "r"), ("books", "")], "Choose at least one collection"),
    ("unknown access level", [("books", "admin")], "Unknown access level"),
    ("manage is not a collection level", [("books", "m")], "Unknown access level"),
    ("more than 20 rules", [(f"c{i}", "r") for i in range(21)], "at most 20 collections"),
    ("a duplicate collection", [("books", "r"), ("books", "rw")], "chosen twice"),
    ("an illegal name", [("my books", "r")], "A collection name is 1–255"),
    ("a long name", [("b" * 256, "r")], "A collection name is 1–255"),
]


@pytest.mark.parametrize(
    "field, overrides, message", CASES, ids=[f"{c[0]}={str(list(c[1].values())[0])[:12]!r}" for c in CASES]
)
def test_bad_input_is_explained_next_to_the_field_and_stores_nothing(
    client_of, owner, cluster, field, overrides, message
):
    response = client_of(owner).post(create_url(cluster), form_data(**overrides))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert f'id="id_{field}-error"' in response.content.decode()
    assert not DatabaseApiKey.objects.exists()


@pytest.mark.parametrize("case, rows, message", COLLECTION_CASES, ids=[c[0] for c in COLLECTION_CASES])
def test_bad_collection_rules_are_explained_under_the_collections_and_store_nothing(
    client_of, owner, cluster, case, rows, message
):
    response = client_of(owner).post(create_url(cluster), collections_data(*rows))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["collections"])
    assert 'id="id_collections-error"' in response.content.decode()
    assert 'id="id_scope_collections" checked' in response.content.decode()  # the tab with the error stays open
    assert not DatabaseApiKey.objects.exists()


def test_exactly_20_collections_are_fine(client_of, owner, cluster):
    response = client_of(owner).post(create_url(cluster), collections_data(*[(f"c{i}", "r") for i in range(20)]))
    assert response.status_code == 200
    assert len(DatabaseApiKey.objects.get().rules) == 20


def test_what_was_typed_is_kept_after_an_error(client_of, owner, cluster):
    response = client_of(owner).post(create_url(cluster), collections_data(("new-coll", "rw"), name="x"))
    html = response.content.decode()
    assert 'name="collections_name" value="new-coll"' in html and '<option value="rw" selected>' in html
    assert 'value="x"' in html


@pytest.mark.parametrize(
    "forged",
    [
        {"collections_name": ["a", "b"], "collections_access": ["r"]},  # lists that do not line up
        {"collections_name": ["a"]},
        {"collections_access": ["rw", "rw"]},
    ],
)
def test_forged_collection_rows_are_a_form_error_not_a_500(client_of, owner, cluster, forged):
    response = client_of(owner).post(create_url(cluster), form_data(scope="collections") | forged)
    assert response.status_code == 400
    assert response.context["form"].errors["collections"]
    assert not DatabaseApiKey.objects.exists()


@pytest.mark.parametrize("nonce", ["", "short", "x" * 65, "not a nonce at all!!!!!!!"])
def test_a_missing_or_forged_nonce_is_a_form_error_with_a_fresh_nonce(client_of, owner, cluster, nonce):
    response = client_of(owner).post(create_url(cluster), form_data(nonce=nonce))
    assert response.status_code == 400
    assert 'id="id_nonce-error"' in response.content.decode()
    fresh = response.context["form"].data["nonce"]
    assert fresh != nonce and len(fresh) >= 22
    assert not DatabaseApiKey.objects.exists()


def test_garbage_posts_get_form_errors_not_a_500(client_of, owner, cluster):
    client = client_of(owner)
    for data in (
        {},
        {"name": ["a", "b"], "scope": ["x", "y"]},
        {"expires_in_days": "1e400", "collections_name": "%00"},
    ):
        assert client.post(create_url(cluster), data).status_code == 400
    assert not DatabaseApiKey.objects.exists()


def test_a_cluster_of_another_account_is_not_found(client_of, owner, cluster, other_cluster):
    client = client_of(owner)
    through_own_account = create_url(other_cluster).replace(str(other_cluster.account_id), str(cluster.account_id))
    for url in (create_url(other_cluster), through_own_account):
        assert client.get(url).status_code == 404
        assert client.post(url, form_data()).status_code == 404
    assert not DatabaseApiKey.objects.exists()


def test_a_cluster_without_granular_access_explains_why_and_creates_nothing(client_of, owner, legacy_cluster):
    client = client_of(owner)
    page = client.get(cluster_url(legacy_cluster)).content.decode()
    assert "Granular database API keys are not available on this cluster" in page
    assert "data-create-key" not in page
    response = client.get(create_url(legacy_cluster))
    assert response.status_code == 409 and "JWT RBAC" in response.content.decode()
    assert 'name="name"' not in response.content.decode()
    assert client.post(create_url(legacy_cluster), form_data()).status_code == 409
    assert not DatabaseApiKey.objects.exists()


def test_the_cluster_page_has_a_create_button(client_of, owner, cluster):
    page = client_of(owner).get(cluster_url(cluster)).content.decode()
    assert f'href="{create_url(cluster)}" data-create-key' in page


@pytest.mark.parametrize("nonce", ["abc\x00" * 8, "x" * 200, "short"])
def test_a_forged_nonce_gets_a_form_error_not_a_500(client_of, owner, cluster, nonce):
    response = client_of(owner).post(create_url(cluster), form_data(nonce=nonce))
    assert response.status_code == 400
    assert not DatabaseApiKey.objects.exists()
