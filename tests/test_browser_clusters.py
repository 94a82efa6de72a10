import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_a_user_logs_in_creates_a_cluster_and_sees_it_become_healthy(login, owner, account, worker):
    page = login(owner)
    expect(page.get_by_role("heading", name="Clusters", exact=True)).to_be_visible()
    page.get_by_role("link", name="Create cluster").click()
    page.fill("#id_name", "search-prod")
    # No cloud region to pick: the form says where the nodes will run.
    expect(page.locator("#id_cloud_provider")).to_have_count(0)
    expect(page.get_by_text("Its nodes run on this console's host")).to_be_visible()
    page.fill("#id_number_of_nodes", "2")
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("heading", name="search-prod")).to_be_visible()
    badge = page.locator(".page-head [data-phase-badge]")
    expect(badge).to_have_text("Creating")
    # No reload: the page follows the worker's progress by itself.
    expect(badge).to_have_text("Healthy", timeout=30_000)
    expect(page.locator("[data-nodes-up]")).to_have_text("2")


def test_bad_input_is_shown_next_to_the_field(login, owner, account):
    page = login(owner)
    page.goto(f"/accounts/{account.id}/clusters/create/")
    page.fill("#id_name", "no spaces allowed")
    page.fill("#id_number_of_nodes", "25")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#id_name-error")).to_contain_text("digits, underscores (_) and dashes (-); no spaces")
    expect(page.locator("#id_number_of_nodes-error")).to_contain_text("less than or equal to 20")
    # What the user typed is still there.
    expect(page.locator("#id_name")).to_have_value("no spaces allowed")


def test_the_account_switcher_lists_the_users_accounts(login, owner, account, other_account):
    from accounts.models import Membership

    Membership.objects.create(account=other_account, user=owner, role="viewer")
    page = login(owner)
    page.locator(".account-switcher summary").click()
    page.get_by_role("link", name=re.compile("Globex")).click()
    expect(page).to_have_url(re.compile(f"/accounts/{other_account.id}/clusters/"))
    expect(page.get_by_role("link", name="Create cluster")).to_have_count(0)  # a viewer there
