"""`manage.py move_embedded_cluster CLUSTER_ID FRONT_NAME`: another front owns the cluster's storage from now on."""

import uuid

from django.core.management.base import BaseCommand, CommandError

from fronts.models import FrontCredential
from fronts.rows import embedded_move


class Command(BaseCommand):
    help = ("Gives an embedded cluster's storage to another front, when its owner is gone for good: copy "
            "clusters/<id>/ from the old owner's DATAPLANE_DATA_DIR (or a backup) to the new one's first.")

    def add_arguments(self, parser):
        parser.add_argument("cluster_id")
        parser.add_argument("front_name")

    def handle(self, *args, cluster_id: str, front_name: str, **options):
        try:
            cluster_id = uuid.UUID(cluster_id)
        except ValueError:
            raise CommandError(f"{cluster_id!r} is not a cluster id.") from None
        if not FrontCredential.objects.filter(name=front_name, revoked_at__isnull=True).exists():
            raise CommandError(f"No live front credential is named {front_name!r}.")
        if not embedded_move(cluster_id=cluster_id, front=front_name):
            raise CommandError(f"No embedded cluster has the id {cluster_id}.")
        self.stdout.write(f"Front {front_name!r} owns the storage of cluster {cluster_id} now.")
