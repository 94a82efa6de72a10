import secrets
from datetime import datetime, UTC

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Account, Membership
from accounts.roles import Role
from clusters.models import Cluster, ClusterNode, NodeState, Operation, Phase, Runtime
from clusters.services import cluster_create

DEMO_USER = "demo"
DEMO_ACCOUNT = "Demo"
# Created before granular keys existed (2025-01-27): it still has admin keys.
LEGACY_CLUSTER = ("legacy-cluster", datetime(2024, 11, 5, 9, 30, tzinfo=UTC), "v1.12.6")
CURRENT_CLUSTER = ("demo-cluster", None, "v1.19.0")


class Command(BaseCommand):
    help = "Creates the demo user, account and clusters once per install; afterwards it changes nothing."

    @transaction.atomic
    def handle(self, *args, **options):
        # Seeded once, with the demo user: `make run` calls this at every start,
        # and a cluster (or anything else) the user has deleted stays deleted.
        if get_user_model().objects.filter(username=DEMO_USER).exists():
            return
        user = get_user_model().objects.create(username=DEMO_USER, email="demo@example.com")
        password = settings.DEMO_PASSWORD or secrets.token_urlsafe(12)
        user.set_password(password)
        user.save()
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        self.stdout.write(f"Created user {DEMO_USER} with password {password}")
        account = Account.objects.create(name=DEMO_ACCOUNT)
        Membership.objects.create(account=account, user=user, role=Role.OWNER)
        for name, created_at, version in (LEGACY_CLUSTER, CURRENT_CLUSTER):
            cluster = cluster_create(
                account=account,
                name=name,
                version=version,
                number_of_nodes=3 if created_at else 1,
                created_at=created_at,
            )
            if cluster.runtime == Runtime.QDRANT:
                # Real nodes: provisioned like any new cluster, the node
                # supervisor of `make run` starts them.
                self.stdout.write(f"Created cluster {name} on real Qdrant nodes (granular keys {'on' if cluster.jwt_rbac else 'off'})")
                continue
            # Demo clusters start up already running: no provisioning (a
            # message sent on commit finds no operation and does nothing).
            ClusterNode.objects.filter(cluster=cluster).update(state=NodeState.HEALTHY, started_at=cluster.created_at)
            Cluster.objects.filter(id=cluster.id).update(phase=Phase.HEALTHY)
            Operation.objects.filter(cluster=cluster).delete()
            self.stdout.write(f"Created cluster {name} (granular keys {'on' if cluster.jwt_rbac else 'off'})")
