"""A key's state is decided once (apikeys/states.py) and every place says the
same: the key's page, Explain, the lists and their filter, the management API,
SQL and Python alike, for every combination of deleted, rolled, retired,
expired and disabled."""

import itertools
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apikeys.models import DatabaseApiKey
from apikeys.states import LISTED_STATES, WORKING_STATES, KeyState, state_expression
from fronts.changelog import keys_changed
from tests.fixtures.dataplane import MANAGE, http_get, mint
from tests.test_api_support import api_as, url

HOUR = timedelta(hours=1)

# What each field may be, as offsets from now (None: unset).
REVOKED = {"live": None, "deleted": -HOUR}
RETIRES = {"never rolled": None, "rolled": 24 * HOUR, "retired, then deleted": -2 * HOUR, "rolled now": -HOUR}
EXPIRES = {"no expiry": None, "expires later": 24 * HOUR, "expired": -3 * HOUR}
DISABLED = {"enabled": None, "disabled": -4 * HOUR}


def expected(revoked, retires, expires, disabled) -> KeyState:
    """The precedence as the issue asks for it: deleted > retired > expired > disabled > rolled > active
    (a roll "now" deletes the old secret at the moment it retires: retired, not deleted)."""
    if revoked is not None and (retires is None or retires > revoked):
        return KeyState.DELETED
    if retires is not None and retires <= timedelta(0):
        return KeyState.RETIRED
    if expires is not None and expires <= timedelta(0):
        return KeyState.EXPIRED
    if disabled is not None:
        return KeyState.DISABLED
    if retires is not None:
        return KeyState.ROLLED
    return KeyState.ACTIVE


COMBINATIONS = [
    combination for combination in itertools.product(REVOKED.items(), RETIRES.items(), EXPIRES.items(), DISABLED.items())
    # A key rolled "now" is the one deleted by its roll.
    if not (combination[1][0] == "rolled now" and combination[0][0] == "live")
]


@pytest.fixture
def keys(owner, cluster):
    """One key per combination: (key, token, expected state)."""
    now = timezone.now()
    made = []
    for index, combination in enumerate(COMBINATIONS):
        offsets = [offset for _, offset in combination]
        revoked, retires, expires, disabled = (None if o is None else now + o for o in offsets)
        # Minted with its expiry, so the token's `exp` says it too, as the front reads it.
        key, token = mint(cluster, MANAGE, by=owner, name=f"key {index:02d}", expires_at=expires)
        DatabaseApiKey.objects.filter(id=key.id).update(
            revoked_at=revoked, retires_at=retires, disabled_at=disabled, created_at=now - 10 * HOUR,
        )
        key.refresh_from_db()
        made.append((key, token, expected(*offsets), " / ".join(name for name, _ in combination)))
    return made


def test_every_combination_has_its_state_in_python_and_in_sql(keys):
    states = dict(DatabaseApiKey.objects.annotate(s=state_expression()).values_list("id", "s"))
    for key, _token, state, combination in keys:
        assert (key.state, states[key.id]) == (state, state), combination
    assert {state for *_, state, _ in keys} == set(KeyState)


def test_the_key_page_and_explain_say_the_same_state(client_of, owner, account, keys):
    client = client_of(owner)
    for key, token, state, combination in keys:
        page = client.get(key.get_absolute_url()).content.decode()
        text = re.search(r"data-key-state-text>([^<:]*)", page).group(1)
        badges = re.findall(r'data-key-state="([a-z-]+)"', page)
        assert text == state.label, combination
        assert [b for b in badges if b in KeyState.values] == ([] if state == KeyState.ACTIVE else [state]), combination
        explained = client.post(reverse("apikeys:account-explain", kwargs={"account_id": account.id}), {"key": token})
        html = explained.content.decode()
        assert f'data-state="{state}"' in html and f">{state.label}</span>" in html, combination
        assert ("data-rights-none" in html) == (state not in (KeyState.ACTIVE, KeyState.ROLLED)), combination


def test_lists_their_filters_and_the_api_agree(client_of, owner, account, cluster, keys):
    client, api = client_of(owner), api_as(owner, account)
    listed = {key.id: state for key, _, state, _ in keys if state in LISTED_STATES}
    page = client.get(reverse("apikeys:account-list", kwargs={"account_id": account.id}) + "?kind=database").content
    rows = re.findall(r'<tr[^>]*>.*?</tr>', page.decode(), re.S)
    for key, _token, state, combination in keys:
        row = next((r for r in rows if f">{key.name}</a>" in r), None)
        assert (row is not None) == (key.id in listed), combination
        if row is not None:
            shown = [b for b in re.findall(r'data-key-state="([a-z-]+)"', row) if b in KeyState.values]
            assert shown == ([] if state == KeyState.ACTIVE else [state]), combination
    items = api.get(url("database-api-keys", account)).json()["items"]
    assert {item["id"]: item["state"] for item in items} == {
        str(key_id): f"KEY_STATE_{KeyState(state).name}" for key_id, state in listed.items()
    }
    for state in LISTED_STATES:
        wanted = {str(key_id) for key_id, s in listed.items() if s == state}
        filtered = api.get(url("database-api-keys", account) + f"?state=KEY_STATE_{state.name}").json()["items"]
        assert {item["id"] for item in filtered} == wanted, state
        on_page = client.get(reverse("apikeys:account-list", kwargs={"account_id": account.id})
                             + f"?kind=database&state={state.value}").content.decode()
        names = {key.name for key, *_ in keys if str(key.id) in wanted}
        assert set(re.findall(r">(key \d\d)</a>", on_page)) == names, state


def test_a_disabled_expired_key_is_expired_and_a_deleted_one_is_never_active(client_of, owner, account, cluster):
    client = client_of(owner)
    both, token = mint(cluster, MANAGE, by=owner, name="both things")
    DatabaseApiKey.objects.filter(id=both.id).update(disabled_at=timezone.now(),
                                                      expires_at=timezone.now() - HOUR)
    gone, gone_token = mint(cluster, MANAGE, by=owner, name="gone key")
    DatabaseApiKey.objects.filter(id=gone.id).update(revoked_at=timezone.now())
    explain = reverse("apikeys:account-explain", kwargs={"account_id": account.id})

    for key, secret, label in ((both, token, "Expired"), (gone, gone_token, "Deleted")):
        page = client.get(key.get_absolute_url()).content.decode()
        assert f"data-key-state-text>{label}<" in page and "Active" not in page
        assert f">{label}</span>" in client.post(explain, {"key": secret}).content.decode()


def test_the_front_opens_the_cluster_to_active_and_rolled_keys_only(dataplane, cluster, keys):
    keys_changed(cluster=cluster)  # the fixture wrote the keys' fields directly
    for _key, token, state, combination in keys:
        status, _ = http_get(dataplane.url + "/collections", {"api-key": token})
        assert (status == 200) == (state in WORKING_STATES), (combination, status)
