"""The one job machine (clusters/operations.py): claims with a lease token,
fenced writes, one finish however many workers race, and an import graph
that runs one way."""

import ast
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from audit.models import Action, AuditEntry
from clusters import operations
from clusters.embedded import EmbeddedNodes
from clusters.models import Cluster, ClusterNode, Operation, Phase
from clusters.operations import LeaseLost, fenced, operation_claim, operations_sweep
from clusters.restarts import cluster_restart_start, granular_access_enable
from console.celery import app
from tests.fixtures.worker import SlowDataPlane, Worker, wait_for

ROOT = Path(__file__).resolve().parents[1]


def expire(operation):
    Operation.objects.filter(id=operation.id).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_each_claim_gets_a_token_of_its_own_and_a_live_claim_is_not_taken(cluster, owner,
                                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        operation = cluster_restart_start(cluster=cluster, by=owner, client_ip=None)
    first = operation_claim(operation.id)
    assert first is not None and len(first.token) == 32
    assert operation_claim(operation.id) is None  # a live worker holds it
    expire(operation)
    second = operation_claim(operation.id)
    assert second is not None and second.token != first.token


def test_a_worker_that_lost_its_lease_writes_nothing(cluster, owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        operation = cluster_restart_start(cluster=cluster, by=owner, client_ip=None)
    stalled = operation_claim(operation.id)
    expire(operation)
    with django_capture_on_commit_callbacks(execute=False):
        operations_sweep()  # hands it back: PENDING, token cleared
    assert Operation.objects.get(id=operation.id).lease_token == ""
    replacement = operation_claim(operation.id)
    node = ClusterNode.objects.filter(cluster=cluster).first()
    with pytest.raises(LeaseLost):
        with fenced(stalled, nodes_done=3):
            ClusterNode.objects.filter(pk=node.pk).update(state="UNHEALTHY")
    with pytest.raises(LeaseLost):
        operations._finish(stalled, Operation.objects.select_related("cluster").get(id=operation.id))
    operation.refresh_from_db()
    assert operation.nodes_done == 0 and operation.state == "RUNNING" and operation.lease_token == replacement.token
    assert ClusterNode.objects.get(pk=node.pk).state == "HEALTHY"
    assert not AuditEntry.objects.filter(action=Action.RESTART_FINISHED).exists()
    # The holder finishes, once.
    operations._finish(replacement, Operation.objects.select_related("cluster").get(id=operation.id))
    assert Operation.objects.get(id=operation.id).state == "DONE"
    assert AuditEntry.objects.filter(action=Action.RESTART_FINISHED).count() == 1


def test_operation_run_stops_quietly_when_its_lease_is_taken(cluster, owner, django_capture_on_commit_callbacks,
                                                             settings, caplog):
    with django_capture_on_commit_callbacks(execute=False):
        operation = cluster_restart_start(cluster=cluster, by=owner, client_ip=None)

    def taken_over(operation_, node, renew):  # another worker claims it while this one is in a step
        expire(operation)
        operation_claim(operation.id)

    with mock.patch.object(EmbeddedNodes, "restart_node", staticmethod(taken_over)):
        operations.operation_run(operation_id=operation.id)
    operation.refresh_from_db()
    assert operation.state == "RUNNING" and operation.nodes_done == 0
    assert "lost its lease" in caplog.text
    assert not AuditEntry.objects.filter(action=Action.RESTART_FINISHED).exists()


def test_a_failing_node_step_fails_the_operation_and_says_why(legacy_cluster, owner, settings,
                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        operation = granular_access_enable(cluster=legacy_cluster, by=owner, client_ip=None)

    def refuses(operation_, node, renew):
        raise RuntimeError("node refused to start")

    with mock.patch.object(EmbeddedNodes, "restart_node", staticmethod(refuses)):
        operations.operation_run(operation_id=operation.id)
    operation.refresh_from_db()
    cluster = Cluster.objects.get(id=legacy_cluster.id)
    assert operation.state == "FAILED" and operation.error == "node-0: node refused to start"
    assert cluster.phase == Phase.FAILED_TO_UPDATE and cluster.reason == "node-0: node refused to start"
    assert not cluster.jwt_rbac
    # Not live any more: the user can try again.
    with django_capture_on_commit_callbacks(execute=False):
        again = granular_access_enable(cluster=legacy_cluster, by=owner, client_ip=None)
    assert again.id != operation.id and Cluster.objects.get(id=legacy_cluster.id).phase == Phase.UPDATING


def test_provisioning_is_an_operation_the_page_follows(client_of, owner, account, django_capture_on_commit_callbacks):
    from django.urls import reverse

    form = {"name": "vectors-eu", "version": "v1.19.0",
            "number_of_nodes": "2"}
    with django_capture_on_commit_callbacks(execute=False):
        client_of(owner).post(reverse("clusters:create", kwargs={"account_id": account.id}), form)
    cluster = Cluster.objects.get(name="vectors-eu")
    status = client_of(owner).get(reverse("clusters:status", kwargs={"account_id": account.id,
                                                                     "cluster_id": cluster.id})).json()
    assert status["phase"] == "CREATING"
    assert status["operation"] == {"kind": "PROVISION", "state": "PENDING", "progress": "Provisioning scheduled"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_clusters_imports_run_one_way_and_nothing_imports_the_tasks():
    modules = {f"clusters.{p.stem}": p for p in (ROOT / "clusters").glob("*.py")}
    graph = {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}
    everything = [*ROOT.glob("*/*.py"), *ROOT.glob("*/*/*.py")]
    importers = [p for p in everything if ".venv" not in p.parts and "clusters.tasks" in _imports(p)]
    assert importers == []

    def visit(name, path):
        assert name not in path, " -> ".join([*path, name])
        for other in graph[name]:
            visit(other, [*path, name])

    for name in graph:
        visit(name, [])


# Two real worker processes race on one operation: A claims it and stalls in
# a node step longer than its lease; the sweeper (beat in worker B) hands it
# to B, which finishes. A then wakes, finds its lease gone, and writes nothing.


@pytest.mark.worker
def test_two_workers_racing_on_one_operation_finish_it_once(owner, legacy_cluster, worker, tmp_path):
    queue = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-stalled"
    log_file = tmp_path / "stalled-worker.log"
    # Its data plane takes 8 s to restart a node: A waits, past its lease.
    slow = SlowDataPlane(tmp_path, seconds=8)
    stalled = Worker(queue, worker.env | {"CELERY_QUEUE": queue, "DATAPLANE_RUN_DIR": str(tmp_path)},
                     schedule_file=None, concurrency=1, log_file=str(log_file))
    stalled.start()
    try:
        with mock.patch("clusters.operations.operation_dispatch"):  # no message for worker B yet
            operation = granular_access_enable(cluster=legacy_cluster, by=owner, client_ip=None)
        Operation.objects.filter(id=operation.id).update(dispatched_at=timezone.now())  # so the sweeper waits
        app.send_task("clusters.tasks.operation_run", (str(operation.id),), queue=queue)
        first = wait_for(lambda: Operation.objects.filter(id=operation.id, current_node=0).values_list(
            "lease_token", flat=True).first())
        # The sweeper takes it from A (lease 2 s) and B finishes it.
        wait_for(lambda: Cluster.objects.filter(id=legacy_cluster.id, phase=Phase.HEALTHY, jwt_rbac=True).exists(),
                 timeout=60)
        wait_for(lambda: "lost its lease" in log_file.read_text(), timeout=30)
    finally:
        stalled.stop()
        slow.close()
    operation.refresh_from_db()
    assert operation.state == "DONE" and operation.nodes_done == 3 and operation.lease_token != first
    assert AuditEntry.objects.filter(action=Action.RESTART_FINISHED).count() == 1
    assert set(ClusterNode.objects.filter(cluster=legacy_cluster).values_list("state", flat=True)) == {"HEALTHY"}
