"""`manage.py seed_keys`: an account with a fleet of clusters and their keys, for measuring at scale.

100,000 keys in 1,000 clusters take well under a minute: rows are written
with bulk_create in batches, each key with a digest of a secret of its own
computed beforehand (peppered HMAC, as createonce/digests.py stores them; nobody is
ever shown the secrets, so no key made here can be used). Then one
keys_changed() makes running data planes load the lot.
"""

import secrets
import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from apikeys.models import DatabaseApiKey
from clusters import catalog, crypto
from clusters.models import Cluster, ClusterNode, NodeState, Phase, default_endpoint
from createonce.digests import current_pepper_id, token_digest
from fronts.changelog import keys_changed

BATCH = 5000
RULES = ([{"collection": None, "access": "m"}], [{"collection": None, "access": "r"}],
         [{"collection": "books", "access": "r"}, {"collection": "films", "access": "rw"}])


class Command(BaseCommand):
    help = "Creates CLUSTERS running clusters with KEYS database API keys spread over them, and prints how long it took."

    def add_arguments(self, parser):
        parser.add_argument("--account", default="Scale", help="the account's name (created if missing)")
        parser.add_argument("--clusters", type=int, default=1000)
        parser.add_argument("--keys", type=int, default=100_000)

    def handle(self, *args, account: str, clusters: int, keys: int, **options):
        if clusters < 1 or keys < 0:
            raise CommandError("--clusters must be at least 1 and --keys at least 0")
        started = time.perf_counter()
        with transaction.atomic():
            made = seed(account_name=account, clusters=clusters, keys=keys)
        if connection.vendor == "postgresql":
            # Planner statistics for the rows just committed, as autovacuum would
            # gather a little later: without them PostgreSQL plans for empty tables.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE clusters_cluster, apikeys_databaseapikey")
        seconds = time.perf_counter() - started
        self.stdout.write(f"Created {keys} keys in {len(made)} clusters of account {account} in {seconds:.1f} s")


def seed(*, account_name: str, clusters: int, keys: int) -> list[Cluster]:
    """The clusters made, each HEALTHY with one node; keys spread evenly over them."""
    account, _ = Account.objects.get_or_create(name=account_name)
    now = timezone.now()
    prefix = uuid.uuid4().hex[:8]  # a second run adds clusters beside the first's
    made = []
    for i in range(clusters):
        cluster_id = uuid.uuid4()
        made.append(Cluster(
            id=cluster_id, account=account, name=f"scale-{prefix}-{i:04d}", cloud_provider=catalog.HYBRID,
            region=catalog.this_host(), version="v1.19.0", number_of_nodes=1, phase=Phase.HEALTHY,
            endpoint_url=default_endpoint(cluster_id), jwt_rbac=True, created_at=now,
            master_key_encrypted=crypto.encrypt(crypto.new_master_key()),
        ))
    Cluster.objects.bulk_create(made, batch_size=BATCH)
    ClusterNode.objects.bulk_create((ClusterNode(cluster=c, index=0, state=NodeState.HEALTHY, started_at=now)
                                     for c in made), batch_size=BATCH)
    pepper_id = current_pepper_id()
    batch = []
    for i in range(keys):
        secret = secrets.token_urlsafe(32)
        batch.append(DatabaseApiKey(
            cluster=made[i % clusters], name=f"service key {i:06d}", rules=RULES[i % len(RULES)],
            created_at=now, postfix=secret[-6:], pepper_id=pepper_id, digest=token_digest(secret, pepper_id),
        ))
        if len(batch) == BATCH:
            DatabaseApiKey.objects.bulk_create(batch)
            batch = []
    DatabaseApiKey.objects.bulk_create(batch)
    keys_changed()  # too many to name: every data plane process loads the whole key set once
    return made
