"""Issue 14 in a real browser: what a keyboard user and a phone user meet, and
the rough edges whose fix lives in the page's scripts and styles."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from managementkeys.services import management_key_create
from tests.fixtures.apikeys import cluster_url, create_url, make_key
from tests.fixtures.browser import AXE, log_in, require_axe

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


@pytest.fixture
def at(chromium, live_server):
    """`at(viewport, **options)`: a new page of that size; closed after the test."""
    contexts = []

    def open_page(viewport, **options):
        context = chromium.new_context(base_url=live_server.url, viewport=viewport, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


@pytest.mark.parametrize("days", ["0", "-1", "abc", "3651"])
def test_an_invalid_expiry_is_said_next_to_the_field_before_submit_and_submit_focuses_it(at, owner, cluster, days):
    page = log_in(at(LAPTOP), owner)
    page.goto(create_url(cluster))
    page.fill("#id_name", "books reader")
    page.fill("#id_expires_in_days", days)
    error = page.locator("#id_expires_in_days-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("1 day" if days in ("0", "-1") else "whole number" if days == "abc" else "At most 3650")
    expect(page.locator("#id_expires_in_days")).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#id_expires_in_days")).to_be_focused()
    assert "/create/" in page.url
    page.fill("#id_expires_in_days", "30")
    expect(error).to_be_hidden()


def test_without_the_script_the_server_refuses_the_expiry_and_focuses_its_field(at, owner, cluster):
    page = log_in(at(LAPTOP, java_script_enabled=False), owner)
    page.goto(create_url(cluster))
    page.fill("#id_name", "books reader")
    page.fill("#id_expires_in_days", "0")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#id_expires_in_days-error")).to_contain_text("at least 1 day")
    assert focused_id(page) == "id_expires_in_days"


def test_a_long_key_name_takes_at_most_two_lines_at_1280(at, owner, cluster):
    make_key(cluster, by=owner, name="nightly batch re-indexer for books", rules=[
        {"collection": c, "access": a} for c, a in [("books", "rw"), ("authors", "r"), ("reviews", "r"), ("covers", "rw")]
    ])
    page = log_in(at(LAPTOP), owner)
    for path in (cluster_url(cluster), reverse("apikeys:account-list", kwargs={"account_id": cluster.account_id})):
        page.goto(path)
        link = page.get_by_role("link", name="nightly batch re-indexer for books", exact=True)
        lines = link.evaluate("(a) => new Set([...a.getClientRects()].map((r) => Math.round(r.top))).size")
        assert lines <= 2, f"{path}: the name takes {lines} lines"
        # Every column fits the card: the Delete link is not cut off.
        delete = page.get_by_role("link", name="Delete nightly batch re-indexer for books")
        delete.click(trial=True)
        box, card = delete.bounding_box(), page.locator(".table-scroll").first.bounding_box()
        assert box["x"] + box["width"] <= card["x"] + card["width"] + 1


def test_on_a_phone_the_menu_button_opens_the_navigation_by_keyboard(at, owner, cluster):
    page = log_in(at(PHONE), owner)
    page.goto(cluster_url(cluster))
    nav = page.get_by_role("navigation", name="Main")
    button = page.get_by_role("button", name="Menu")
    expect(nav).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Clusters")).to_be_focused()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(button).to_be_focused()
    # On a laptop the links show and the button does not.
    page.set_viewport_size(LAPTOP)
    expect(nav).to_be_visible()
    expect(button).to_be_hidden()


def test_on_a_phone_the_create_button_of_the_key_form_is_not_covered(at, owner, cluster):
    page = log_in(at(PHONE), owner)
    page.goto(create_url(cluster))
    page.get_by_role("button", name="Create", exact=True).click(trial=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_reveal_page_on_a_phone_keeps_the_key_in_a_box_of_a_few_lines(at, owner, cluster):
    page = log_in(at(PHONE), owner)
    page.goto(create_url(cluster))
    page.fill("#id_name", "phone key")
    page.get_by_role("button", name="Create", exact=True).click()
    secret = page.locator("[data-secret]")
    box = secret.bounding_box()
    assert box["height"] < 400, f"the key is {box['height']}px tall"
    assert page.evaluate("document.documentElement.scrollHeight") < 5000
    # Snippets scroll inside their box, which the keyboard can reach.
    pre = page.locator("#reveal-snippets-panel-curl pre")
    assert pre.evaluate("(p) => p.scrollWidth > p.clientWidth")
    assert pre.get_attribute("tabindex") == "0"


def test_by_keyboard_alone_one_copies_the_key_and_switches_snippet_tabs(at, live_server, owner, cluster):
    page = log_in(at(LAPTOP), owner)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(create_url(cluster))
    page.fill("#id_name", "keyboard key")
    page.keyboard.press("Enter")  # submits from the name field
    copy = page.locator("[data-copy-secret]")
    expect(copy).to_be_visible()
    copy.focus()
    outline = copy.evaluate("(b) => getComputedStyle(b).outlineStyle")
    assert outline != "none", "a focused button shows where the focus is"
    page.keyboard.press("Space")
    expect(copy).to_have_text("Copied")
    token = page.locator("[data-secret]").inner_text().strip()
    assert page.evaluate("navigator.clipboard.readText()") == token
    tab = page.locator("#reveal-snippets-tab-curl")
    tab.focus()
    page.keyboard.press("ArrowRight")
    selected = page.locator('[role="tab"][aria-selected="true"]')
    expect(selected).to_be_focused()
    assert selected.get_attribute("id") != "reveal-snippets-tab-curl"


def test_the_account_menus_open_by_keyboard(at, owner, cluster):
    page = log_in(at(PHONE), owner)
    page.goto(cluster_url(cluster))
    user_menu = page.locator(".user-menu summary")
    user_menu.focus()
    page.keyboard.press("Enter")
    logout = page.locator(".user-menu").get_by_role("button", name="Log out")
    expect(logout).to_be_visible()
    logout.click(trial=True)
    # Tab walks the menu: the profile, two-factor and sessions links, then Log out.
    page.keyboard.press("Tab")
    expect(page.locator(".user-menu").get_by_role("link", name="Profile")).to_be_focused()
    for _ in range(3):
        page.keyboard.press("Tab")
    expect(logout).to_be_focused()
    page.keyboard.press("Escape")
    expect(logout).to_be_hidden()
    expect(user_menu).to_be_focused()


def test_the_empty_login_form_says_so(at, db):
    page = at(PHONE)
    page.goto(reverse("login"))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter your username.")
    expect(page.locator("#id_username")).to_be_focused()


def test_the_docs_authorize_with_the_bare_management_key(at, owner, account):
    _, plaintext = management_key_create(account=account, by=owner, name="docs trial")
    page = at(LAPTOP)
    page.goto(reverse("api:docs"))
    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    first = dialog.locator(".auth-container").first
    expect(first).to_contain_text("managementKey")
    first.locator("input").fill(plaintext)
    first.locator("button.authorize").click()
    dialog.locator(".close-modal").click()
    operation = page.locator("#operations-AuthService-AuthService_ListManagementKeys")
    operation.locator(".opblock-summary-control").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("input[placeholder=accountId]").fill(str(account.id))
    with page.expect_request(lambda r: "/management-keys" in r.url) as request:
        operation.get_by_role("button", name="Execute").click()
    assert request.value.headers["authorization"] == f"apikey {plaintext}"
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_contain_text("200")


def test_axe_goes_in_by_evaluate_as_the_policy_blocks_an_inline_script_tag(at, db):
    require_axe()
    page = at(LAPTOP)
    page.goto(reverse("login"))
    try:
        page.add_script_tag(path=str(AXE))
    except Exception:  # noqa: BLE001 - Playwright reports the refused script as an error
        pass
    assert page.evaluate("typeof window.axe") == "undefined", "the CSP let an inline script run"
    page.evaluate(AXE.read_text() + "\n;undefined")
    assert page.evaluate("typeof window.axe.run") == "function"
