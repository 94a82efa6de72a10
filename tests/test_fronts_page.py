"""The operators' page of fronts (issue 20 point 2): who may see it, what it
shows of each front process, and revoking a credential from it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fronts.changelog import keys_changed
from fronts.credentials import front_contact, front_credential_create, front_credential_revoke, front_for
from fronts.models import FrontInstance, KeySetChange
from tests.conftest import PASSWORD, make_user
from tests.test_reauthentication import eleven_minutes_later


@pytest.fixture
def operator(db):
    user = make_user("olga")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def fronts(db, settings):
    settings.DATAPLANE_CONFIRM_SECONDS = 0
    keys_changed()
    keys_changed()
    east, east_credential = front_credential_create(name="east")
    gone, _ = front_credential_create(name="west")
    front_credential_revoke(name="west")
    # Making and revoking a credential are changes too (every front learns its peer token's digest).
    latest = KeySetChange.objects.order_by("-id").first().id
    front_contact(front=east, instance="host-a:/run/1.keyset", address="10.0.0.7", applied=latest)
    front_contact(front=east, instance="host-b:/run/2.keyset", address="10.0.0.8", applied=latest - 1)
    FrontInstance.objects.filter(instance="host-b:/run/2.keyset").update(
        last_contact_at=timezone.now() - timedelta(minutes=3))
    return {"east": east, "east_credential": east_credential, "latest": latest, "west": gone}


def test_an_operator_sees_each_process_with_its_address_contact_and_lag(client_of, operator, fronts):
    page = client_of(operator).get(reverse("fronts:list"))
    assert page.status_code == 200
    text = page.content.decode()
    assert f'data-latest>{fronts["latest"]}<' in text
    rows = text.split("data-process")[1:]
    first, second = rows
    assert "host-a:/run/1.keyset" in first and "10.0.0.7" in first and 'data-state="connected"' in first
    assert "up to date" in first
    assert "host-b:/run/2.keyset" in second and "10.0.0.8" in second and 'data-state="stale"' in second
    assert "1 behind" in second and "3\xa0minutes ago" in second
    assert "west" in text and "Revoked" in text.split('data-front="west"')[1]
    assert reverse("fronts:revoke", kwargs={"front_id": fronts["east"].id}) in text
    assert reverse("fronts:revoke", kwargs={"front_id": fronts["west"].id}) not in text


def test_the_user_menu_links_the_page_for_operators_only(client_of, operator, owner, account, fronts):
    assert reverse("fronts:list") in client_of(operator).get(reverse("profile")).content.decode()
    assert reverse("fronts:list") not in client_of(owner).get(reverse("profile")).content.decode()


def test_an_account_owner_who_is_no_operator_gets_404(client_of, owner, fronts):
    client = client_of(owner)
    revoke = reverse("fronts:revoke", kwargs={"front_id": fronts["east"].id})
    assert client.get(reverse("fronts:list")).status_code == 404
    assert client.get(revoke).status_code == 404
    assert client.post(revoke).status_code == 404
    assert front_for(fronts["east_credential"]) is not None


def test_revoking_asks_to_confirm_then_for_a_recent_sign_in_and_cuts_the_front_off(client_of, operator, fronts):
    client = client_of(operator)
    url = reverse("fronts:revoke", kwargs={"front_id": fronts["east"].id})
    confirm = client.get(url)
    assert confirm.status_code == 200 and "used by 2 front processes" in confirm.content.decode()
    eleven_minutes_later(client)
    prompt = client.post(url)
    assert prompt.status_code == 302 and "reauthenticate" in prompt.url
    assert front_for(fronts["east_credential"]) is not None
    done = client.post(prompt.url, {"password": PASSWORD})
    assert done.url == url or done.url == reverse("fronts:list")
    assert front_for(fronts["east_credential"]) is None
    assert not FrontInstance.objects.filter(credential=fronts["east"]).exists()
    listed = client.get(reverse("fronts:list")).content.decode()
    assert "Revoked the front credential east" in listed


def test_a_revoked_or_unknown_credential_has_no_revoke_page(client_of, operator, fronts):
    client = client_of(operator)
    assert client.get(reverse("fronts:revoke", kwargs={"front_id": fronts["west"].id})).status_code == 404
    assert client.post(reverse("fronts:revoke", kwargs={"front_id": fronts["west"].id})).status_code == 404
