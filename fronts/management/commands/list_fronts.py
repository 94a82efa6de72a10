"""`manage.py list_fronts`: every front credential, and what each of its processes last said."""

from django.core.management.base import BaseCommand

from fronts.models import FrontCredential


class Command(BaseCommand):
    help = "Lists the fronts: credential, state, and per process its address, last contact and applied change."

    def handle(self, *args, **options):
        for front in FrontCredential.objects.order_by("name").prefetch_related("instances"):
            state = f"revoked {front.revoked_at:%Y-%m-%d %H:%M:%S}" if front.revoked_at else "active"
            self.stdout.write(f"{front.name}\t{state}\tcreated {front.created_at:%Y-%m-%d %H:%M:%S}")
            for process in front.instances.order_by("instance"):
                self.stdout.write(f"  {process.instance}\tfrom {process.address or '?'}"
                                  f"\tlast contact {process.last_contact_at:%Y-%m-%d %H:%M:%S}"
                                  f"\tapplied change {process.applied_sequence}")
