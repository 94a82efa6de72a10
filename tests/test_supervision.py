"""`make run`'s supervisor under faults, for real: a `runall` started by the
test on free ports with a VAR_DIR of its own, its children killed with
kill -9 one by one, the Celery worker's pool children killed during a
restart, and (with Redis) a broker of the test's own stopped and started
again while a restart is requested. On the filesystem broker and on Redis
(when REDIS_URL is set)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families
from django.utils import timezone

from audit.models import Action, AuditEntry
from clusters.models import Cluster, Operation, Phase
from clusters.restarts import cluster_restart_start
from fronts.models import FrontInstance
from managementkeys.services import management_key_create
from runtimes.processes import die_with_parent
from tests.fixtures.dataplane import free_port
from tests.fixtures.worker import SlowDataPlane, Worker, _database_url, wait_for

ROOT = Path(__file__).resolve().parents[1]
LEASE, SWEEP, NODE = 3.0, 1.0, 0.5

BROKERS = [
    "filesystem",
    pytest.param("redis", marks=pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL is not set")),
]


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def role(command: str) -> str | None:
    for name, mark in (("web", "gunicorn"), ("worker", " worker "), ("beat", " beat "), ("dataplane", "-m dataplane"),
                       ("nodes", "-m runtimes.supervisor")):
        if mark in command:
            return name
    return None


def request(method: str, url: str, headers: dict | None = None, body: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers or {}, method=method), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


class Stack:
    """`manage.py runall`, as `make run` starts it, on the test database."""

    def __init__(self, tmp: Path, broker_url: str | None, qdrant_binary: str | None = None):
        self.var = tmp / "var"
        self.var.mkdir(parents=True)
        secrets = Path(settings.VAR_DIR) / "secrets.env"
        if secrets.exists():
            shutil.copy(secrets, self.var / "secrets.env")
        self.port, self.dataplane_port, self.metrics_port = free_port(), free_port(), free_port()
        self.log = tmp / "runall.log"
        # The node supervisor is a child only when asked for (a Qdrant binary).
        # Not this test process's metrics directory either: runall empties the
        # one it is given at start, which took the counts of every later test here.
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "QDRANT_BINARY", "NODES_DIR", "PROMETHEUS_MULTIPROC_DIR")}
        self.children = {"web", "worker", "beat", "dataplane"} | ({"nodes"} if qdrant_binary else set())
        self.env = env | {
            "VAR_DIR": str(self.var),
            "DATABASE_URL": _database_url(),
            "PORT": str(self.port),
            "DATAPLANE_PORT": str(self.dataplane_port),
            "DATAPLANE_GRPC_PORT": str(free_port()),
            "DATAPLANE_METRICS_PORT": str(self.metrics_port),
            "CELERY_QUEUE": f"stack-{uuid.uuid4().hex[:8]}",
            "CLUSTER_NODE_START_SECONDS": "0.1",
            "OPERATION_LEASE_SECONDS": str(LEASE),
            "OPERATIONS_SWEEP_SECONDS": str(SWEEP),
            "DEBUG": "false",
        } | ({"REDIS_URL": broker_url} if broker_url else {}) | ({"QDRANT_BINARY": qdrant_binary} if qdrant_binary else {})
        self.process = None
        # Beside the stack's own data plane (same run directory, where it
        # restarts an embedded cluster's storage at once), one that takes NODE
        # seconds per node: the worker waits for both, so a test can act mid-restart.
        run_dir = self.var / "dataplane" / "run"
        run_dir.mkdir(parents=True)
        self.slow = SlowDataPlane(run_dir, seconds=NODE)

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runall", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent,
            )
        wait_for(lambda: set(self.pids()) == self.children, timeout=60)
        wait_for(self.web_serves, timeout=60)
        wait_for(self.dataplane_serves, timeout=60)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def pids(self) -> dict[str, int]:
        found = {}
        for pid in children_of(self.process.pid):
            name = role(cmdline(pid))
            if name:
                found[name] = pid
        return found

    def web_serves(self) -> bool:
        # Any answer from Django (here the API's 401) means the web server serves.
        return request("GET", f"http://127.0.0.1:{self.port}/api/cluster/v1/accounts/{uuid.uuid4()}/clusters") == 401

    def dataplane_serves(self) -> bool:
        return request("GET", f"http://127.0.0.1:{self.dataplane_port}/healthz") == 200

    def restart(self, cluster, key: str) -> int:
        url = f"http://127.0.0.1:{self.port}/api/cluster/v1/accounts/{cluster.account_id}/clusters/{cluster.id}/restart"
        return request("POST", url, {"Authorization": f"apikey {key}", "Content-Type": "application/json"}, b"{}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def restarted(cluster, after) -> bool:
    return Cluster.objects.filter(id=cluster.id, phase=Phase.HEALTHY, restarted_at__gt=after).exists()


@pytest.fixture
def key(account, owner):
    return management_key_create(name="test key", account=account, by=owner)[1]


@pytest.fixture
def stack_for(transactional_db, tmp_path_factory):
    # The stack's worker and beat must be the only ones on the test database:
    # the session's test worker (with its sweeper) would take operations over.
    Worker.stop_all()
    stacks = []

    def start(broker_url=None, qdrant_binary=None):
        # Not under tmp_path, named after the test: the stack's handshake sockets, in
        # its var/dataplane/run/, must stay within a Unix socket's 107 bytes of path
        # (xdist puts each worker's temporary directories one level deeper).
        stack = Stack(tmp_path_factory.mktemp("stack"), broker_url, qdrant_binary)
        stacks.append(stack)
        stack.start()
        return stack

    yield start
    for stack in stacks:
        stack.stop()
        stack.slow.close()


def _broker_url(broker: str) -> str | None:
    if broker == "filesystem":
        return None
    return settings.REDIS_URL


@pytest.fixture
def stack(request, stack_for):
    return stack_for(_broker_url(request.param))


@pytest.mark.worker
@pytest.mark.parametrize("stack", BROKERS, indirect=True)
def test_each_child_killed_is_restarted_alone_while_the_others_keep_serving(stack, cluster, key):
    for name in ("web", "worker", "beat", "dataplane"):
        before = stack.pids()
        os.kill(before[name], signal.SIGKILL)
        wait_for(lambda name=name, before=before: stack.pids().get(name) not in (None, before[name]), timeout=30)
        after = stack.pids()
        assert {n: p for n, p in after.items() if n != name} == {n: p for n, p in before.items() if n != name}
        if name != "web":
            assert stack.web_serves()
        if name != "dataplane":
            assert stack.dataplane_serves()
        wait_for(stack.web_serves if name == "web" else stack.dataplane_serves, timeout=60)
        assert f"{name} exited with status -9; restarting it in 1 s" in stack.log_text()
    assert stack.process.poll() is None
    # The restarted worker and beat still do their work: a restart completes.
    asked = Operation.objects.count()
    since = timezone.now()
    assert stack.restart(cluster, key) == 200
    assert Operation.objects.count() == asked + 1
    wait_for(lambda: restarted(cluster, since), timeout=60)
    # And the restarted beat sweeps: an operation with no message is run too.
    since = timezone.now()
    with mock.patch("clusters.operations.operation_dispatch"):
        cluster_restart_start(cluster=cluster, by=None, client_ip=None)
    wait_for(lambda: restarted(cluster, since), timeout=60)


@pytest.mark.worker
@pytest.mark.parametrize("stack", BROKERS, indirect=True)
def test_killing_the_pool_children_during_a_restart_delays_it_by_at_most_a_lease_and_a_sweep(stack, cluster, key):
    since = timezone.now()
    assert stack.restart(cluster, key) == 200
    operation = Operation.objects.get(cluster=cluster)
    wait_for(lambda: Operation.objects.filter(id=operation.id, current_node=1).exists(), timeout=60)
    worker = stack.pids()["worker"]
    pool = children_of(worker)
    assert pool
    killed = time.monotonic()
    for pid in pool:
        os.kill(pid, signal.SIGKILL)
    # Within the lease (the claim the killed child held), one sweep, the
    # nodes left, and the start of a worker where the pool had to be replaced.
    wait_for(lambda: restarted(cluster, since), timeout=LEASE + SWEEP + 3 * NODE + 30)
    took = time.monotonic() - killed
    print(f"\nrestart completed {took:.1f} s after its pool children were killed "
          f"(lease {LEASE:g} s, sweep {SWEEP:g} s, {NODE:g} s per node)")
    operation.refresh_from_db()
    assert operation.state == "DONE" and operation.nodes_done == 3
    assert AuditEntry.objects.filter(action=Action.RESTART_FINISHED).count() == 1


@pytest.fixture
def redis_server(tmp_path):
    """A Redis server of the test's own on a free port (never the shared one)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()

    class Server:
        url = f"redis://127.0.0.1:{port}/0"
        process = None

        def start(self):
            self.process = subprocess.Popen(
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(tmp_path)],
                stdout=subprocess.DEVNULL, preexec_fn=die_with_parent,
            )


            def up():
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        return True
                except OSError:
                    return False

            wait_for(up, timeout=20)

        def stop(self):
            if self.process and self.process.poll() is None:
                self.process.terminate()
                self.process.wait(timeout=20)

    server = Server()
    server.start()
    yield server
    server.stop()


@pytest.mark.worker
def test_a_restart_asked_while_the_broker_is_down_completes_once_it_is_back(redis_server, stack_for, cluster, key):
    stack = stack_for(redis_server.url)
    redis_server.stop()
    since = timezone.now()
    asked = time.monotonic()
    assert stack.restart(cluster, key) == 200  # answered, not an error
    answered = time.monotonic() - asked
    operation = Operation.objects.get(cluster=cluster)
    assert operation.state == "PENDING" and operation.dispatched_at is None
    assert Cluster.objects.get(id=cluster.id).phase == Phase.UPDATING
    redis_server.start()
    back = time.monotonic()
    wait_for(lambda: restarted(cluster, since), timeout=90)
    print(f"\nrestart requested with the broker down: answered in {answered:.2f} s; "
          f"completed {time.monotonic() - back:.1f} s after the broker was back")
    operation.refresh_from_db()
    assert operation.state == "DONE"
    assert stack.process.poll() is None and set(stack.pids()) == {"web", "worker", "beat", "dataplane"}


@pytest.mark.worker
def test_make_run_s_own_front_admits_a_key_on_its_first_request_with_no_configuration(stack_for, cluster, owner):
    """runall gives its front KEYSET_URL and an internal credential; a key made in
    the console is admitted there on the first request after the create, and
    refused on the first after the delete (the console waits for its acknowledgement)."""
    from apikeys.services import database_key_delete
    from tests.fixtures.dataplane import MANAGE, http_get, mint

    stack = stack_for()
    front = f"http://127.0.0.1:{stack.dataplane_port}/"
    wait_for(lambda: FrontInstance.objects.filter(credential__name="runall").exists(), timeout=30)
    key, token = mint(cluster, MANAGE, by=owner)
    assert http_get(front, {"api-key": token})[0] == 200
    database_key_delete(key=key, by=owner)
    assert http_get(front, {"api-key": token})[0] == 401

    # Its metrics, where runall says, on loopback: the two requests, parsed by prometheus_client.
    metrics = f"http://127.0.0.1:{stack.metrics_port}/metrics"
    assert f"The front's Prometheus metrics: {metrics}" in wait_for(
        lambda: "Press Ctrl-C" in (text := stack.log_text()) and text, timeout=30)

    def outcomes():
        status, body = http_get(metrics)
        assert status == 200
        found = {sample.labels["outcome"]: sample.value for family in text_string_to_metric_families(body.decode())
                 for sample in family.samples if sample.name == "qdrant_front_requests_total"
                 and sample.labels["route_group"] == "other"}
        return found if sum(found.values()) >= 2 else None

    assert wait_for(outcomes, timeout=10) == {"allowed": 1, "401": 1}
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:] + Path("/proc/net/tcp6").read_text().splitlines()[1:]
    local = {line.split()[1] for line in listening if line.split()[3] == "0A"}  # LISTEN
    assert local & {f"0100007F:{stack.metrics_port:04X}"}, "the metrics port listens on 127.0.0.1"
    assert not [address for address in local if address.endswith(f":{stack.metrics_port:04X}")
                and address != f"0100007F:{stack.metrics_port:04X}"], "and on no other address"


def test_a_child_that_keeps_dying_waits_longer_each_time_and_a_stable_one_starts_over():
    from console.management.commands.runall import Child

    child = Child("crasher", [sys.executable, "-c", "pass"])
    delays = []
    for _ in range(7):
        child.start()
        child.process.wait()
        delays.append(child.schedule_restart())
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    child.start()
    child.process.wait()
    child.started -= 61  # it had run for over a minute
    assert child.schedule_restart() == 1


@pytest.mark.worker
def test_with_a_qdrant_binary_the_node_supervisor_is_a_fifth_child_restarted_like_the_others(
    stack_for, qdrant_binary, account
):
    from clusters.models import ClusterNode, NodeState
    from clusters.services import cluster_create
    from runtimes.qdrant import _pid_alive

    stack = stack_for(qdrant_binary=qdrant_binary)
    cluster = cluster_create(account=account, name="real",
                             version="v1.19.0", number_of_nodes=1, runtime="qdrant")
    wait_for(lambda: Cluster.objects.get(id=cluster.id).phase == Phase.HEALTHY, timeout=90)
    node = ClusterNode.objects.get(cluster=cluster)
    config = stack.var / "nodes" / str(cluster.id) / "node-0" / "config.yaml"
    first = int((config.parent / "qdrant.pid").read_text())

    os.kill(stack.pids()["nodes"], signal.SIGKILL)

    wait_for(lambda: "nodes exited with status -9; restarting it in 1 s" in stack.log_text(), timeout=30)
    wait_for(lambda: not _pid_alive(first, config), timeout=30)  # the node died with it
    wait_for(lambda: (config.parent / "qdrant.pid").exists()
             and _pid_alive(int((config.parent / "qdrant.pid").read_text()), config), timeout=60)
    wait_for(lambda: ClusterNode.objects.get(id=node.id).state == NodeState.HEALTHY, timeout=60)
    assert ClusterNode.objects.get(id=node.id).http_port == node.http_port  # on its recorded port
    again = int((config.parent / "qdrant.pid").read_text())

    stack.stop()  # Ctrl-C: the nodes stop with everything else
    wait_for(lambda: not _pid_alive(again, config), timeout=30)
