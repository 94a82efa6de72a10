"""The rough edges a new user hit (issue 14), each checked where the server
decides it. The browser-side halves are in tests/test_browser_rough_edges.py."""

import re

import pytest
from django.urls import reverse

from apikeys.forms import KEY_NAME_RULE
from clusters.forms import ClusterCreateForm
from clusters.models import Operation, Phase
from tests.fixtures.apikeys import create_url, form_data, make_key


def html_of(response) -> str:
    return response.content.decode()


def cluster_page(client, cluster) -> str:
    return html_of(client.get(reverse("clusters:detail", kwargs={"account_id": cluster.account_id, "cluster_id": cluster.id})))


def progress_texts(html: str) -> list[str]:
    return [t.strip() for t in re.findall(r"data-operation-progress[^>]*>([^<]*)<", html)]


# Restart progress -----------------------------------------------------------------


def test_while_granular_access_is_enabled_every_progress_says_the_same_and_no_notice_offers_enable(
    client_of, owner, legacy_cluster
):
    Operation.objects.create(
        cluster=legacy_cluster, kind=Operation.Kind.ENABLE_JWT, state=Operation.State.RUNNING, current_node=1
    )
    legacy_cluster.__class__.objects.filter(id=legacy_cluster.id).update(phase=Phase.UPDATING)
    html = cluster_page(client_of(owner), legacy_cluster)
    texts = progress_texts(html)
    assert len(texts) >= 3  # the head, the banner and the API Keys notice
    assert set(texts) == {"Restarting node 2 of 3"}
    assert "Restart scheduled" not in html
    assert "choose <strong>Enable</strong>" not in html
    assert "Granular access is being enabled" in html
    assert "data-reload-when-settled" in html  # the banner comes back with a button when it is over


def test_a_role_that_cannot_enable_is_not_told_to_choose_enable(client_of, viewer, legacy_cluster):
    html = cluster_page(client_of(viewer), legacy_cluster)
    assert "choose <strong>Enable</strong>" not in html
    assert "write:clusters" in html


def test_an_owner_of_an_idle_legacy_cluster_is_told_to_choose_enable(client_of, owner, legacy_cluster):
    html = cluster_page(client_of(owner), legacy_cluster)
    assert "choose <strong>Enable</strong>" in html
    assert 'data-granular-banner>' in html  # no reload pending


# Enable confirmation ---------------------------------------------------------------


def enable_url(cluster) -> str:
    return reverse("clusters:enable-granular", kwargs={"account_id": cluster.account_id, "cluster_id": cluster.id})


def test_the_enable_confirmation_of_an_enabled_cluster_offers_no_enable_button(client_of, owner, cluster):
    html = html_of(client_of(owner).get(enable_url(cluster)))
    assert "Enable and restart" not in html
    assert "<form" not in html.split('<main class="content"')[1]
    assert "already enabled" in html


def test_the_enable_confirmation_during_a_restart_offers_no_enable_button(client_of, owner, legacy_cluster):
    Operation.objects.create(cluster=legacy_cluster, kind=Operation.Kind.RESTART, state=Operation.State.PENDING)
    html = html_of(client_of(owner).get(enable_url(legacy_cluster)))
    assert "Enable and restart" not in html
    assert "Restart scheduled" in html


# Expiry: the error, and the focus on the field at fault ---------------------------------


@pytest.mark.parametrize("days", ["0", "-1", "abc", "3651"])
def test_an_invalid_expiry_is_shown_at_its_field_which_gets_the_focus(client_of, owner, cluster, days):
    html = html_of(client_of(owner).post(create_url(cluster), form_data(expires_in_days=days)))
    assert 'id="id_expires_in_days-error"' in html
    field = re.search(r"<input[^>]*id=\"id_expires_in_days\"[^>]*>", html).group(0)
    assert "autofocus" in field and 'aria-invalid="true"' in field and "id_expires_in_days-error" in field
    name = re.search(r"<input[^>]*id=\"id_name\"[^>]*>", html).group(0)
    assert "autofocus" not in name


def test_the_form_carries_the_rules_the_script_checks_before_submit(client_of, owner, cluster):
    html = html_of(client_of(owner).get(create_url(cluster)))
    field = re.search(r"<input[^>]*id=\"id_expires_in_days\"[^>]*>", html).group(0)
    assert 'data-rule-min="1"' in field and 'data-rule-max="3650"' in field
    assert "data-error-invalid=" in field


# 403 and 404 -------------------------------------------------------------------------


def test_a_403_keeps_the_shell_and_names_the_missing_permission(client_of, viewer, account):
    response = client_of(viewer).get(reverse("clusters:create", kwargs={"account_id": account.id}))
    assert response.status_code == 403
    html = html_of(response)
    assert 'aria-label="Main"' in html and 'class="topbar"' in html
    assert "write:clusters" in re.search(r"data-missing-permission>([^<]*)<", html).group(1)
    assert "Viewer" in html


def test_a_404_keeps_the_shell_when_logged_in(client_of, owner, account):
    response = client_of(owner).get(f"/accounts/{account.id}/clusters/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    html = html_of(response)
    assert 'class="sidebar"' in html and 'aria-label="Main"' in html and 'class="topbar"' in html


def test_a_404_logged_out_is_a_bare_page(client, db):
    html = html_of(client.get("/no/such/page/"))
    assert 'class="sidebar"' not in html and "404" in html


# The sidebar ---------------------------------------------------------------------------


def current_nav(html: str) -> list[str]:
    nav = html.split('aria-label="Main"')[1].split("</nav>")[0]
    return re.findall(r'aria-current="page">([^<]+)<', nav)


def test_a_clusters_key_pages_highlight_clusters_in_the_sidebar(client_of, owner, cluster):
    client = client_of(owner)
    assert current_nav(html_of(client.get(create_url(cluster)))) == ["Clusters"]
    reveal = client.post(create_url(cluster), form_data())
    assert current_nav(html_of(reveal)) == ["Clusters"]
    key, _ = make_key(cluster, by=owner)
    assert current_nav(html_of(client.get(key.get_absolute_url()))) == ["Clusters"]
    account_list = reverse("apikeys:account-list", kwargs={"account_id": cluster.account_id})
    assert current_nav(html_of(client.get(account_list))) == ["API Keys"]


# Which collections ---------------------------------------------------------------------


def test_a_key_list_says_which_collections_a_mixed_key_opens(client_of, owner, cluster):
    make_key(cluster, by=owner, name="mixed key", rules=[
        {"collection": "books", "access": "rw"}, {"collection": "films", "access": "r"},
        {"collection": "songs", "access": "r"}, {"collection": "plays", "access": "rw"},
    ])
    html = cluster_page(client_of(owner), cluster)
    details = re.search(r"data-access-details>([^<]*)<", html).group(1)
    assert "Mixed · 4 collections" in html
    for name in ("books", "films", "songs", "plays"):
        assert name in details


# Name rules ----------------------------------------------------------------------------


def test_the_key_name_help_is_the_rule_and_a_cyrillic_name_is_refused_saying_why(client_of, owner, cluster):
    client = client_of(owner)
    assert KEY_NAME_RULE in html_of(client.get(create_url(cluster)))
    assert KEY_NAME_RULE.startswith("4–128 characters: letters A–Z and a–z")
    html = html_of(client.post(create_url(cluster), form_data(name="ключ тест")))
    error = re.search(r'id="id_name-error">([^<]*)<', html).group(1)
    assert "A–Z" in error and "other alphabets" in error


def test_the_cluster_name_help_is_the_rule(account):
    form = ClusterCreateForm(account=account)
    assert form.fields["name"].help_text.startswith("1–64 characters: letters A–Z and a–z, digits")
    bound = ClusterCreateForm({"name": "кластер", "version": form.fields["version"].choices[0][0], "number_of_nodes": 1}, account=account)
    assert not bound.is_valid()
    assert "other alphabets" in bound.errors["name"][0]
    assert ClusterCreateForm({"name": "abc", "version": form.fields["version"].choices[0][0], "number_of_nodes": 1},
                             account=account).is_valid()


# Login ---------------------------------------------------------------------------------


def test_submitting_the_empty_login_form_says_what_is_missing(client, db):
    html = html_of(client.post(reverse("login"), {"username": "", "password": ""}))
    assert "Enter your username." in html and "Enter your password." in html
    assert 'role="alert"' in html


def test_a_missing_password_alone_is_said_and_focused(client, db):
    html = html_of(client.post(reverse("login"), {"username": "alice", "password": ""}))
    assert "Enter your password." in html and "Enter your username." not in html
    assert re.search(r'<input id="id_password"[^>]*autofocus', html)


# API docs ------------------------------------------------------------------------------


def test_the_docs_offer_the_management_key_first_and_say_to_paste_it_alone(client, db):
    schema = client.get(reverse("api:schema")).json()
    schemes = schema["components"]["securitySchemes"]
    assert list(schemes)[0] == "managementKey"
    assert "Paste the management key only" in schemes["managementKey"]["description"]
