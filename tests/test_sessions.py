"""Sessions: a member sees where they are signed in (device, address, last
seen) and ends any; an owner ends a member's; a password change ends the others."""

from django.test import Client
from django.urls import reverse

from audit.models import Action, AuditEntry
from tests.conftest import PASSWORD

PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def browser(user, agent: str, ip: str) -> Client:
    """A browser that logged in through the login page."""
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302 and response.url == reverse("dashboard")
    return client


def signed_in(client) -> bool:
    return client.get(reverse("profile")).status_code == 200


def test_a_member_sees_each_session_with_its_device_and_address(owner):
    laptop = browser(owner, LAPTOP, "198.51.100.20")
    browser(owner, PHONE, "203.0.113.30")
    page = laptop.get(reverse("sessions")).content.decode()
    assert "Firefox on Linux" in page and "198.51.100.20" in page
    assert "Chrome on Android" in page and "203.0.113.30" in page
    assert page.count("data-session=") == 2 and "This browser" in page


def test_a_member_ends_another_session(owner, account):
    import re

    laptop = browser(owner, LAPTOP, "198.51.100.20")
    phone = browser(owner, PHONE, "203.0.113.30")
    page = laptop.get(reverse("sessions")).content.decode()
    ref = re.search(r'data-session="(\w+)">\s*<td data-label="Device"><span title="[^"]*">Chrome on Android', page).group(1)
    laptop.post(reverse("session-end", kwargs={"ref": ref}))
    assert not signed_in(phone) and signed_in(laptop)
    assert AuditEntry.objects.filter(account=account, action=Action.SESSIONS_ENDED, detail="Chrome on Android").exists()


def test_another_users_session_cannot_be_ended(owner, outsider):
    import re

    theirs = browser(outsider, PHONE, "203.0.113.30")
    ref = re.search(r'data-session="(\w+)"', theirs.get(reverse("sessions")).content.decode()).group(1)
    mine = browser(owner, LAPTOP, "198.51.100.20")
    assert mine.post(reverse("session-end", kwargs={"ref": ref})).status_code == 404
    assert signed_in(theirs)


def test_a_password_change_ends_the_other_sessions(owner):
    laptop = browser(owner, LAPTOP, "198.51.100.20")
    phone = browser(owner, PHONE, "203.0.113.30")
    laptop.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "an entirely new passphrase", "password2": "an entirely new passphrase"},
    )
    assert signed_in(laptop) and not signed_in(phone)
    assert laptop.get(reverse("sessions")).content.decode().count("data-session=") == 1


def test_an_owner_ends_a_members_sessions(owner, viewer, account):
    members = browser(viewer, PHONE, "203.0.113.30")
    owners = browser(owner, LAPTOP, "198.51.100.20")
    member_id = viewer.memberships.get().public_id
    owners.post(reverse("accounts:member-sessions-end", kwargs={"account_id": account.id, "member_id": member_id}))
    assert not signed_in(members) and signed_in(owners)
    entry = AuditEntry.objects.get(account=account, action=Action.SESSIONS_ENDED)
    assert (entry.actor_name, entry.target_name) == (owner.username, viewer.username)


def test_an_admin_cannot_end_a_members_sessions(admin, viewer, account):
    members = browser(viewer, PHONE, "203.0.113.30")
    admins = browser(admin, LAPTOP, "198.51.100.20")
    member_id = viewer.memberships.get().public_id
    url = reverse("accounts:member-sessions-end", kwargs={"account_id": account.id, "member_id": member_id})
    assert admins.post(url).status_code == 403
    assert signed_in(members)
