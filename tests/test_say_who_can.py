"""Where a member cannot do something the page would lead to, it says so up
front: the granular-access banner tells a member without write:clusters who
can enable it, and the last owner's row offers no Remove (its page refuses
before asking to confirm)."""

from accounts.models import Membership
from accounts.roles import Role
from tests.conftest import make_user
from tests.fixtures.apikeys import cluster_url
from tests.test_members import member_url, members_url


def banner(page: str) -> str:
    start = page.index("data-granular-banner")
    return page[start:page.index("</section>", start)]


def test_the_enable_banner_tells_a_member_who_cannot_enable_who_can(client_of, viewer, owner, legacy_cluster):
    theirs = banner(client_of(viewer).get(cluster_url(legacy_cluster)).content.decode())
    assert "Enable</a>" not in theirs
    assert "An account owner or admin can enable it" in theirs and "write:clusters" in theirs
    mine = banner(client_of(owner).get(cluster_url(legacy_cluster)).content.decode())
    assert "Enable</a>" in mine and "data-enable-who" not in mine


def test_the_last_owners_row_offers_no_remove_and_its_page_refuses_before_confirming(client_of, owner, account):
    page = client_of(owner).get(members_url(account)).content.decode()
    row = page[page.index(f'data-member="{owner.username}"'):]
    row = row[:row.index("</tr>")]
    assert "Remove</a>" not in row and "Last owner: cannot be removed" in row

    confirm = client_of(owner).get(member_url("member-remove", account, owner)).content.decode()
    assert "An account needs an owner" in confirm and "Remove member</button>" not in confirm

    second = make_user("olga", account, Role.OWNER)
    page = client_of(owner).get(members_url(account)).content.decode()
    row = page[page.index(f'data-member="{owner.username}"'):]
    assert "Remove</a>" in row[:row.index("</tr>")]
    assert "Remove member</button>" in client_of(owner).get(member_url("member-remove", account, second)).content.decode()
    assert Membership.objects.filter(account=account, role=Role.OWNER).count() == 2
