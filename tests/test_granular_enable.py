"""Enabling granular access on a legacy cluster: a rolling restart run by a
real worker process, once, surviving double clicks, redelivery, a dead worker
and a broker that is down."""

from unittest import mock

import pytest
from django.urls import reverse
from kombu.exceptions import OperationalError

from audit.models import Action, AuditEntry
from clusters.models import Cluster, ClusterNode, Operation, Phase
from clusters.dispatch import operation_dispatch
from clusters.operations import operations_sweep
from clusters.restarts import granular_access_enable
from console.celery import app
from tests.fixtures.worker import wait_for


def urls(cluster):
    kwargs = {"account_id": cluster.account_id, "cluster_id": cluster.id}
    return reverse("clusters:detail", kwargs=kwargs), reverse("clusters:enable-granular", kwargs=kwargs)


def test_a_legacy_cluster_offers_the_enable_button(client_of, owner, legacy_cluster):
    detail, enable = urls(legacy_cluster)
    html = client_of(owner).get(detail).content.decode()
    assert "Enable database API keys with granular access control" in html
    assert "This restarts your cluster." in html and enable in html


def test_a_current_cluster_has_no_banner(client_of, owner, cluster):
    html = client_of(owner).get(urls(cluster)[0]).content.decode()
    assert "data-granular-banner" not in html


def test_the_confirmation_says_the_cluster_restarts(client_of, owner, legacy_cluster):
    html = client_of(owner).get(urls(legacy_cluster)[1]).content.decode()
    assert "This restarts your cluster." in html and "cannot be undone" in html


def test_a_viewer_sees_no_button_and_gets_403(client_of, viewer, legacy_cluster):
    detail, enable = urls(legacy_cluster)
    client = client_of(viewer)
    assert enable not in client.get(detail).content.decode()
    assert client.post(enable).status_code == 403
    assert not Operation.objects.exists()


def test_confirming_records_the_operation_and_updating_in_one_go(client_of, owner, legacy_cluster,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client_of(owner).post(urls(legacy_cluster)[1], REMOTE_ADDR="203.0.113.7")
    operation = Operation.objects.get()
    assert operation.state == "PENDING" and operation.created_by == owner and operation.kind == "ENABLE_JWT"
    assert Cluster.objects.get(id=legacy_cluster.id).phase == Phase.UPDATING
    assert len(callbacks) == 1  # enqueued on commit only
    # (besides the login and the fixture's creation of the cluster)
    entries = AuditEntry.objects.filter(account=legacy_cluster.account).exclude(
        action__in=[Action.LOGIN, Action.CLUSTER_CREATED]
    )
    assert set(entries.values_list("action", flat=True)) == {Action.GRANULAR_ACCESS_ENABLED, Action.RESTART_STARTED}
    assert set(entries.values_list("client_ip", flat=True)) == {"203.0.113.7"}


def test_a_double_click_gives_one_operation(client_of, owner, legacy_cluster, django_capture_on_commit_callbacks):
    client = client_of(owner)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(urls(legacy_cluster)[1])
        client.post(urls(legacy_cluster)[1])
    assert Operation.objects.count() == 1


def test_the_database_refuses_a_second_live_operation(legacy_cluster, owner, django_capture_on_commit_callbacks):
    from django.db import IntegrityError, transaction

    with django_capture_on_commit_callbacks(execute=False):
        granular_access_enable(cluster=legacy_cluster, by=owner, client_ip=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.create(cluster=legacy_cluster, kind="RESTART")


def test_enabling_twice_is_refused(client_of, owner, cluster):
    response = client_of(owner).post(urls(cluster)[1], follow=True)
    assert "already enabled" in response.content.decode()
    assert not Operation.objects.exists()


def test_the_sweeper_heals_a_cluster_left_updating_without_an_operation(legacy_cluster):
    Cluster.objects.filter(id=legacy_cluster.id).update(phase=Phase.UPDATING)
    operations_sweep()
    assert Cluster.objects.get(id=legacy_cluster.id).phase == Phase.HEALTHY


def test_the_audit_log_is_a_page_in_access_management(client_of, owner, viewer, legacy_cluster,
                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        client_of(owner).post(urls(legacy_cluster)[1])
    url = reverse("audit:log", kwargs={"account_id": legacy_cluster.account_id})
    html = client_of(owner).get(url).content.decode()
    assert "Granular access enabled" in html and "Restart started" in html and "alice" in html
    assert client_of(viewer).get(url).status_code == 403


# With a real worker process (and beat inside it running the sweeper).



def enable(client, cluster):
    client.post(urls(cluster)[1])
    return Operation.objects.get(cluster=cluster)


def finished(cluster):
    return Cluster.objects.filter(id=cluster.id, phase=Phase.HEALTHY, jwt_rbac=True).exists()


@pytest.mark.worker
def test_the_cluster_passes_through_updating_to_healthy_with_granular_access(client_of, owner, legacy_cluster, worker):
    client = client_of(owner)
    operation = enable(client, legacy_cluster)
    status_url = reverse("clusters:status", kwargs={"account_id": legacy_cluster.account_id, "cluster_id": legacy_cluster.id})
    seen = wait_for(lambda: client.get(status_url).json()["operation"] or None)
    assert seen["progress"].startswith(("Restart scheduled", "Restarting node"))
    wait_for(lambda: "Restarting node 2 of 3" == (client.get(status_url).json()["operation"] or {}).get("progress"))
    wait_for(lambda: finished(legacy_cluster))
    cluster = Cluster.objects.get(id=legacy_cluster.id)
    assert cluster.restarted_at is not None
    operation.refresh_from_db()
    assert operation.state == "DONE" and operation.nodes_done == 3
    assert AuditEntry.objects.filter(action=Action.RESTART_FINISHED).count() == 1


@pytest.mark.worker
def test_a_redelivered_message_restarts_once(client_of, owner, legacy_cluster, worker):
    operation = enable(client_of(owner), legacy_cluster)
    operation_dispatch(operation.id)
    operation_dispatch(operation.id)
    wait_for(lambda: finished(legacy_cluster))
    operation.refresh_from_db()
    assert operation.nodes_done == 3
    assert AuditEntry.objects.filter(action=Action.RESTART_FINISHED).count() == 1


@pytest.mark.worker
def test_a_worker_killed_mid_restart_is_replaced_and_the_job_finishes(client_of, owner, legacy_cluster, worker):
    operation = enable(client_of(owner), legacy_cluster)
    wait_for(lambda: Operation.objects.get(id=operation.id).current_node == 1)
    worker.kill()
    assert Cluster.objects.get(id=legacy_cluster.id).phase == Phase.UPDATING
    worker.start()
    wait_for(lambda: finished(legacy_cluster))
    operation.refresh_from_db()
    assert operation.state == "DONE" and operation.nodes_done == 3
    assert set(ClusterNode.objects.filter(cluster=legacy_cluster).values_list("state", flat=True)) == {"HEALTHY"}
    assert AuditEntry.objects.filter(action=Action.RESTART_FINISHED).count() == 1


@pytest.mark.worker
def test_with_the_broker_down_the_restart_is_scheduled_and_runs_once_it_is_back(client_of, owner, legacy_cluster, worker):
    client = client_of(owner)
    with mock.patch.object(app, "send_task", side_effect=OperationalError("Connection refused")):
        response = client.post(urls(legacy_cluster)[1], follow=True)
    assert "The restart is scheduled" in response.content.decode()
    operation = Operation.objects.get()
    assert operation.state == "PENDING" and operation.dispatched_at is None
    assert Cluster.objects.get(id=legacy_cluster.id).phase == Phase.UPDATING
    # The broker is back: beat's sweeper in the worker dispatches it.
    wait_for(lambda: finished(legacy_cluster))
    operation.refresh_from_db()
    assert operation.state == "DONE"


def test_enabling_during_a_plain_restart_is_refused_with_a_reason(client_of, owner, legacy_cluster,
                                                                  django_capture_on_commit_callbacks):
    from clusters.restarts import cluster_restart_start

    with django_capture_on_commit_callbacks(execute=False):
        cluster_restart_start(cluster=legacy_cluster, by=owner, client_ip=None)
        response = client_of(owner).post(urls(legacy_cluster)[1], follow=True)
    assert "The cluster is restarting; enable granular access when the restart is done." in response.content.decode()
    assert Operation.objects.get().kind == "RESTART"
    assert not AuditEntry.objects.filter(action=Action.GRANULAR_ACCESS_ENABLED).exists()


@pytest.mark.worker
def test_with_the_broker_down_a_new_cluster_is_provisioned_once_it_is_back(client_of, owner, account, worker):
    form = {"name": "late-one", "version": "v1.19.0",
            "number_of_nodes": "1"}
    url = reverse("clusters:create", kwargs={"account_id": account.id})
    with mock.patch.object(app, "send_task", side_effect=OperationalError("Connection refused")):
        response = client_of(owner).post(url, form)
    assert response.status_code == 302  # the user is not shown an error page
    cluster = Cluster.objects.get(name="late-one")
    assert cluster.phase == Phase.CREATING
    wait_for(lambda: Cluster.objects.get(id=cluster.id).phase == Phase.HEALTHY)
