from celery.exceptions import TimeoutError as CeleryTimeout
from django.core.management.base import BaseCommand, CommandError

from console.celery import ping


class Command(BaseCommand):
    help = "Sends a task through the broker and waits for the worker's answer."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args, timeout: float, **options):
        try:
            answer = ping.delay().get(timeout=timeout)
        except CeleryTimeout:
            raise CommandError(f"No worker answered within {timeout:g} s.") from None
        self.stdout.write(f"worker answered: {answer}")
