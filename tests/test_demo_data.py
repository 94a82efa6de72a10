from django.core.management import call_command

from accounts.models import Account, Membership
from clusters.models import Cluster


def test_seed_demo_creates_a_legacy_and_a_current_cluster_once(db):
    call_command("seed_demo")
    call_command("seed_demo")
    account = Account.objects.get(name="Demo")
    assert Membership.objects.get(account=account, user__username="demo").role == "owner"
    legacy = Cluster.objects.get(account=account, name="legacy-cluster")
    current = Cluster.objects.get(account=account, name="demo-cluster")
    assert str(legacy.created_at.date()) == "2024-11-05" and not legacy.jwt_rbac and legacy.is_legacy
    assert current.jwt_rbac and not current.is_legacy
    assert Cluster.objects.count() == 2 and {legacy.phase, current.phase} == {"HEALTHY"}


def test_a_demo_cluster_the_user_deleted_stays_deleted_at_the_next_start(db):
    call_command("seed_demo")
    Cluster.objects.filter(name="demo-cluster").delete()
    Account.objects.filter(name="Demo").update(name="Renamed")
    call_command("seed_demo")  # what `make run` does at every start
    assert list(Cluster.objects.values_list("name", flat=True)) == ["legacy-cluster"]
    assert list(Account.objects.values_list("name", flat=True)) == ["Renamed"]
