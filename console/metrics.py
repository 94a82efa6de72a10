"""The console's Prometheus metrics, served at /metrics to a scraper that
presents CONSOLE_METRICS_TOKEN (unset: 404, nothing is served).

prometheus_client in multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by
settings before anything imports it): the web server's workers, the Celery
worker's processes and beat each write their own files, summed at each
scrape. What the database or the broker knows (operations by phase, the
queue's depth) is read at the scrape itself.
"""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

PREFIX = "console_"

REQUESTS = Counter(PREFIX + "requests", "Requests the console answered, by method, view and status.",
                   ["method", "view", "status"])
REQUEST_SECONDS = Histogram(PREFIX + "request_duration_seconds", "How long the console took to answer, by view.",
                            ["view"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0))
TASKS = Counter(PREFIX + "celery_tasks", "Celery tasks finished, by task and outcome (success, failure, retry).",
                ["task", "outcome"])
LOGIN_FAILURES = Counter(PREFIX + "login_failures", "Sign-ins that failed: a wrong username or password, "
                         "or any while locked out.")
LOCKOUTS = Counter(PREFIX + "login_lockouts", "Lockouts started, and sign-ins refused by one (axes' user_locked_out).")


class MetricsMiddleware:
    """Counts every request by its view's name (bounded: the URL patterns), never by its path."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "unnamed") if match is not None else "unmatched"
        REQUESTS.labels(request.method if request.method in _METHODS else "other", view, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(view).observe(time.perf_counter() - started)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def on_task_success(sender=None, **kwargs) -> None:
    TASKS.labels(getattr(sender, "name", "unknown"), "success").inc()


def on_task_failure(sender=None, **kwargs) -> None:
    TASKS.labels(getattr(sender, "name", "unknown"), "failure").inc()


def on_task_retry(sender=None, **kwargs) -> None:
    TASKS.labels(getattr(sender, "name", "unknown"), "retry").inc()


def on_login_failed(**kwargs) -> None:
    LOGIN_FAILURES.inc()


def on_locked_out(**kwargs) -> None:
    LOCKOUTS.inc()


def queue_depth() -> int | None:
    """Messages waiting in the console's Celery queue: Redis' list, or the filesystem broker's files."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
        try:
            return client.llen(queue)
        except redis.RedisError:
            return None
        finally:
            client.close()
    folder = settings.BROKER_DIR / "queue"
    try:
        return sum(1 for path in folder.iterdir() if path.name.endswith(f".{queue}.msg"))
    except OSError:
        return None


class DatabaseCollector:
    """What the rows say at scrape time: operations by kind and state."""

    def collect(self):
        from clusters.models import Operation

        operations = GaugeMetricFamily(PREFIX + "operations", "Cluster operations (provisioning, restarts) by kind "
                                       "and state.", labels=["kind", "state"])
        counts = {(kind, state): 0 for kind in Operation.Kind.values for state in Operation.State.values}
        for kind, state, count in _operation_counts():
            counts[(kind, state)] = count
        for (kind, state), count in sorted(counts.items()):
            operations.add_metric([kind, state], count)
        yield operations
        depth = queue_depth()
        if depth is not None:
            yield GaugeMetricFamily(PREFIX + "celery_queue_depth", "Tasks waiting in the console's Celery queue.",
                                    value=depth)


def _operation_counts():
    from django.db.models import Count

    from clusters.models import Operation

    return Operation.objects.values_list("kind", "state").annotate(count=Count("id")).order_by()


@require_GET
def metrics(request):
    token = settings.CONSOLE_METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise Http404
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
