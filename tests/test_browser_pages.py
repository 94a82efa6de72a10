"""Every page of the console, on a phone (390×844) and a laptop (1280×800),
logged in and out (issue 14):

- a screenshot of each page with a problem goes to a temporary directory,
  of every page to SCREENSHOT_DIR when set (a full-page PNG of each was a
  fifth of the walk's time);
- the page never scrolls sideways: document.documentElement.scrollWidth ≤ the viewport's width;
- its primary buttons are clickable, by Playwright's own actionability checks
  (visible, stable, enabled, not covered: `click(trial=True)`, never forced);
- axe-core (pinned in package.json, from node_modules/) finds no serious or
  critical violation.

One test per viewport walks all pages and reports every failure at once.
"""

import os
from datetime import timedelta
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import CustomRole, Membership
from accounts.roles import Role
from apikeys.models import DatabaseApiKey
from apikeys.services import database_key_create, key_disable
from audit.models import Action
from audit.services import audit_record
from fronts.credentials import front_contact, front_credential_create, front_credential_revoke
from fronts.models import FrontInstance
from tests.conftest import make_user
from tests.fixtures.apikeys import make_admin_key, make_key
from tests.fixtures.browser import axe_on_every_page, axe_violations, log_in, require_axe

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}

# What a page's main action looks like: the buttons a user came to press.
PRIMARY = "main .primary:visible, main .danger:visible, main button[type=submit]:visible"


def url(name, **kwargs) -> str:
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def screenshots(tmp_path_factory):
    """Where screenshots go, and whether every page is wanted (else those with a problem)."""
    wanted = os.environ.get("SCREENSHOT_DIR")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return Screenshots(path, every=bool(wanted))


@dataclass
class Screenshots:
    path: Path
    every: bool


@pytest.fixture
def estate(owner, account, cluster, legacy_cluster):
    """An account with something on every page: keys of both kinds, a mixed
    key with a long name, an audit trail, and a viewer to be refused."""
    make_key(
        cluster, by=owner, name="nightly batch re-indexer for books",
        rules=[{"collection": c, "access": a} for c, a in
               [("books", "rw"), ("authors", "r"), ("reviews", "r"), ("covers", "rw")]],
    )
    # Expires within a week: its badge, and the cluster page's banner.
    _, token = make_key(cluster, by=owner, name="search service", expires_at=timezone.now() + timedelta(days=5))
    # A disabled key fenced to two networks, with its state and allowlist badges.
    fenced, _ = database_key_create(cluster=cluster, name="office only", rules=[{"collection": None, "access": "r"}],
                                    expires_at=None, by=owner, allowed_networks=["203.0.113.0/24", "2001:db8::/32"])
    key_disable(key=fenced, by=owner)
    make_admin_key(legacy_cluster, by=owner, name="legacy app")
    audit_record(account=account, action=Action.RESTART_STARTED, target=cluster, actor=owner, client_ip="127.0.0.1")
    # A custom role with a long name, in use, so its deletion is refused.
    role = CustomRole.objects.create(
        account=account, name="Release engineering for the books search team",
        description="Ships the books clusters and rotates their keys", permissions=["read:clusters", "write:api_keys"],
    )
    Membership.objects.create(account=account, user=make_user("rita"), custom_role=role)
    # The owner also runs this console (a Django staff user): the fronts' page,
    # with a process up to date, one stale and behind, and a revoked credential.
    type(owner).objects.filter(pk=owner.pk).update(is_staff=True)
    east, _ = front_credential_create(name="east-load-balancer-pool")
    # West's create and revoke are key set changes: made before east's process has
    # spoken, so neither waits the 2 s confirmation bound for it (it never answers).
    front_credential_create(name="west")
    front_credential_revoke(name="west")
    front_contact(front=east, instance="front-host-a.example.internal:/var/run/vector-console/dataplane/41234.keyset",
                  address="2001:db8:ffff:ffff:ffff:ffff:ffff:fff1", applied=0)
    front_contact(front=east, instance="front-host-b:/run/7.keyset", address="10.0.0.8", applied=0)
    FrontInstance.objects.filter(instance="front-host-b:/run/7.keyset").update(
        last_contact_at=timezone.now() - timedelta(minutes=3))
    return {"viewer": make_user("victor", account, Role.VIEWER), "role": role, "token": token}


def check(page, name: str, viewport: str, screenshots: Screenshots, problems: list[str]) -> None:
    page.wait_for_load_state("load")
    found = len(problems)
    width = page.viewport_size["width"]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        wide = page.evaluate(
            """(width) => [...document.querySelectorAll('body *')]
                .filter((e) => e.getBoundingClientRect().right > width + 1)
                .slice(0, 3).map((e) => e.tagName + '.' + e.className)""",
            width,
        )
        problems.append(f"{viewport} {name}: {scroll_width}px wide in a {width}px viewport ({wide})")
    buttons = page.locator(PRIMARY)
    for i in range(buttons.count()):
        button = buttons.nth(i)
        try:
            button.click(trial=True, timeout=2000)
        except Exception as exc:  # noqa: BLE001 - reported with the others
            problems.append(f"{viewport} {name}: {button.inner_text()!r} not clickable: {str(exc).splitlines()[0]}")
    for violation in axe_violations(page):
        problems.append(f"{viewport} {name}: axe {violation}")
    if screenshots.every or len(problems) > found:
        page.screenshot(path=screenshots.path / f"{viewport}-{name}.png", full_page=True)


def walk(page, login, owner, viewer, cluster, legacy_cluster, account, problems, viewport, screenshots, token):
    look = lambda name: check(page, name, viewport, screenshots, problems)  # noqa: E731
    a = {"account_id": account.id}
    c = a | {"cluster_id": cluster.id}
    legacy = a | {"cluster_id": legacy_cluster.id}

    # Logged out.
    page.goto(url("login"))
    look("login")
    page.goto(url("logout"))
    look("logout-logged-out")
    page.goto("/no/such/page/")
    look("404-logged-out")
    page.goto(url("api:docs"))
    page.locator(".opblock-tag").first.wait_for()
    look("api-docs")
    page.goto(url("account_signup"))
    look("sign-up-closed")
    page.goto(url("account_reset_password"))
    look("password-reset")

    login(owner)
    page.goto(url("clusters:list", **a))
    look("cluster-list")
    page.goto(url("clusters:create", **a))
    look("cluster-create")
    page.goto(url("clusters:detail", **c))
    look("cluster-current")
    page.goto(url("clusters:detail", **legacy))
    look("cluster-legacy")
    page.goto(url("clusters:enable-granular", **legacy))
    look("enable-confirm-legacy")
    page.goto(url("clusters:enable-granular", **c))
    look("enable-confirm-already-enabled")
    page.goto(url("apikeys:account-list", **a))
    look("api-keys")
    page.goto(url("apikeys:create", **c))
    look("key-create")
    page.fill("#id_name", "phone test key")
    page.get_by_role("button", name="Create", exact=True).click()
    page.locator("[data-secret]").wait_for()
    look("key-reveal")
    page.goto(url("apikeys:admin-create", **legacy))
    look("admin-key-create")
    key = DatabaseApiKey.objects.filter(cluster=cluster).order_by("created_at").first()
    page.goto(url("apikeys:detail", **c, key_id=key.id))
    look("key-detail")
    page.goto(url("apikeys:edit", **c, key_id=key.id))
    look("key-edit")
    page.fill("#id_name", "x")
    page.get_by_role("button", name="Save").click()
    page.locator("#id_name-error").wait_for()
    look("key-edit-refused")
    page.goto(url("apikeys:delete", **c, key_id=key.id))
    look("key-delete")
    page.goto(url("apikeys:roll", **c, key_id=key.id))
    look("key-roll")
    page.get_by_role("button", name="Roll key").click()
    page.locator("[data-secret]").wait_for()
    look("key-roll-reveal")
    page.goto(url("apikeys:detail", **c, key_id=key.id))
    look("key-detail-rolled")
    page.goto(url("clusters:detail", **c) + "?order=last_used#api-keys")
    look("cluster-keys-sorted")
    page.goto(url("apikeys:account-explain", **a))
    look("key-explain")
    page.fill("#id_key", token)
    page.get_by_role("button", name="Explain").click()
    page.locator("[data-explained]").wait_for()
    look("key-explained")
    page.goto(url("accounts:access", **a))
    look("access")
    page.goto(url("accounts:invite", **a))
    look("member-invite")
    page.fill("#id_email", "newcomer@example.com")
    page.select_option("#id_role", "developer")
    page.get_by_role("button", name="Send invitation").click()
    page.get_by_role("heading", name="Invitation sent").wait_for()
    look("member-invite-sent")
    invitation = account.invitations.get(email="newcomer@example.com")
    page.goto(url("accounts:invitation-revoke", **a, invitation_id=invitation.id))
    look("invitation-revoke")
    member = account.memberships.get(user=viewer)
    page.goto(url("accounts:member-edit", **a, member_id=member.public_id))
    look("member-edit")
    page.goto(url("accounts:member-remove", **a, member_id=member.public_id))
    look("member-remove")
    page.goto(url("accounts:roles", **a))
    look("roles")
    page.goto(url("accounts:role-create", **a))
    look("role-create")
    page.fill("#id_name", "Phone testers")
    page.get_by_label("read:clusters").check()
    page.get_by_role("button", name="Create role").click()
    page.get_by_role("heading", name="Access Management").wait_for()
    look("roles-after-create")
    made = account.custom_roles.get(name="Phone testers")
    page.goto(url("accounts:role-edit", **a, role_id=made.id))
    look("role-edit")
    page.goto(url("accounts:my-role", **a))
    look("my-role")
    in_use = account.custom_roles.get(name__startswith="Release engineering")
    page.goto(url("accounts:role-delete", **a, role_id=in_use.id))
    look("role-delete")
    page.get_by_role("button", name="Delete role").click()
    page.locator("#delete-error").wait_for()
    look("role-delete-in-use")
    page.goto(url("clusters:restart", **c))
    look("cluster-restart-confirm")
    page.goto(url("clusters:delete", **c))
    look("cluster-delete-confirm")
    page.goto(url("apikeys:account-create", **a))
    look("account-key-create")
    admin_key = legacy_cluster.admin_keys.first()
    page.goto(url("apikeys:admin-detail", **legacy, key_id=admin_key.id))
    look("admin-key-detail")
    page.goto(url("apikeys:admin-edit", **legacy, key_id=admin_key.id))
    look("admin-key-edit")
    page.goto(url("audit:log", **a))
    look("audit-log")
    page.goto(url("apikeys:key-policy", **a))
    look("key-policy")
    page.goto(url("managementkeys:list", **a))
    look("management-keys")
    page.goto(url("managementkeys:create", **a))
    look("management-key-create")
    page.fill("#id_name", "phone deploy")
    page.get_by_role("button", name="Create key").click()
    page.locator("[data-secret]").wait_for()
    look("management-key-reveal")
    page.goto(url("managementkeys:list", **a))
    page.locator("[data-management-keys]").get_by_role("link", name="Rename phone deploy").click()
    look("management-key-rename")
    page.goto(url("managementkeys:list", **a))
    page.locator("[data-management-keys] a.danger-link").first.click()
    look("management-key-delete")
    page.goto(url("fronts:list"))
    look("fronts")
    page.locator("[data-fronts]").get_by_role("link", name="Revoke east-load-balancer-pool").click()
    look("front-revoke")
    # The user's own pages (issue 22).
    page.goto(url("profile"))
    look("profile")
    page.goto(url("account-create"))
    look("account-create")
    page.goto(url("sessions"))
    look("sessions")
    page.goto(url("account_change_password"))
    look("password-change")
    page.goto(url("account_email"))
    look("email")
    page.goto(url("mfa_index"))
    look("two-factor")
    page.goto(url("mfa_activate_totp"))
    look("totp-activate")
    page.goto(url("account_reauthenticate"))
    look("reauthenticate")
    page.goto("/no/such/page/")
    look("404")
    page.goto(url("logout"))
    look("logout")
    page.locator("main").get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda u: "/logout/" not in u)

    page.goto(url("invitation", invitation_id=invitation.id))
    look("invitation-logged-out")

    login(viewer)
    page.goto(url("clusters:create", **a))
    look("403")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_page_fits_the_viewport_its_buttons_are_clickable_and_axe_finds_nothing_serious(
    chromium, live_server, owner, account, cluster, legacy_cluster, estate, screenshots, viewport
):
    require_axe()
    context = chromium.new_context(base_url=live_server.url, viewport=VIEWPORTS[viewport])
    context.set_default_timeout(15_000)
    axe_on_every_page(context)
    page = context.new_page()

    problems: list[str] = []
    try:
        walk(page, lambda user: log_in(page, user), owner, estate["viewer"], cluster, legacy_cluster, account,
             problems, viewport, screenshots, estate["token"])
    finally:
        context.close()
    print(f"screenshots in {screenshots.path}")
    assert problems == [], "\n".join(problems)
