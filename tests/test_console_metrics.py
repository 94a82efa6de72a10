"""The console's Prometheus metrics (issue 24): /metrics with
CONSOLE_METRICS_TOKEN, parsed by prometheus_client's parser: requests by
view, login failures and lockouts, Celery task outcomes (from the real
worker process), operations by kind and state and the queue's depth."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clusters.models import Operation

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def scrape_token(settings):
    settings.CONSOLE_METRICS_TOKEN = TOKEN


def scrape(client) -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode()) for sample in family.samples}


def total(samples, name, **labels) -> float:
    return sum(value for (found_name, found), value in samples.items()
               if found_name == name and all((k, v) in found for k, v in labels.items()))


def test_without_the_token_there_is_nothing_to_see(client, db, settings):
    settings.CONSOLE_METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    settings.CONSOLE_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404


def test_requests_login_failures_and_lockouts_are_counted(client, db, scrape_token, owner, settings):
    before = scrape(client)
    assert client.get("/login/").status_code == 200
    for _ in range(settings.LOGIN_FAILURE_LIMIT + 1):
        client.post("/login/", {"username": owner.username, "password": "not the password"})
    after = scrape(client)
    assert (total(after, "console_requests_total", view="login", method="GET", status="200")
            - total(before, "console_requests_total", view="login", method="GET", status="200")) == 1
    assert total(after, "console_login_failures_total") - total(before, "console_login_failures_total") == \
        settings.LOGIN_FAILURE_LIMIT + 1  # the last one refused while locked out, a failure too
    assert total(after, "console_login_lockouts_total") - total(before, "console_login_lockouts_total") >= 1
    assert total(after, "console_request_duration_seconds_count", view="login") >= 4


def test_operations_by_kind_and_state_and_the_queue_depth(client, db, scrape_token, cluster):
    Operation.objects.create(cluster=cluster, kind=Operation.Kind.values[0], state=Operation.State.FAILED)
    samples = scrape(client)
    assert total(samples, "console_operations", kind=Operation.Kind.values[0], state=Operation.State.FAILED) == \
        Operation.objects.filter(kind=Operation.Kind.values[0], state=Operation.State.FAILED).count()
    assert ("console_celery_queue_depth", ()) in samples


@pytest.mark.worker
def test_task_outcomes_of_the_real_worker_are_counted(client, worker, scrape_token):
    from apikeys.tasks import usage_rollup_task
    from tests.fixtures.worker import wait_for

    name = "apikeys.tasks.usage_rollup_task"
    before = total(scrape(client), "console_celery_tasks_total", task=name, outcome="success")
    usage_rollup_task.delay()
    wait_for(lambda: total(scrape(client), "console_celery_tasks_total", task=name, outcome="success") > before,
             timeout=30)
