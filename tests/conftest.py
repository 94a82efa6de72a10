"""Fixtures named after people with roles, in the style of healthchecks'
alice/bob/charlie: `owner`, `admin`, `developer` and `viewer` belong to the
`account`; `outsider` owns `other_account` and nothing else."""

import sys
import threading
import time
import traceback
import uuid

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from accounts.models import Account, Membership
from accounts.roles import Role
from clusters.models import Cluster, ClusterNode, NodeState, Operation, Phase
from clusters.services import cluster_create
from datetime import UTC

pytest_plugins = [
    "tests.fixtures.worker", "tests.fixtures.browser", "tests.fixtures.dataplane", "tests.fixtures.qdrant",
    "tests.fixtures.nodes", "tests.fixtures.oidc", "tests.fixtures.elsewhere",
]

PASSWORD = "correct horse battery staple"


def make_user(username: str, account: Account | None = None, role: Role | None = None):
    user = get_user_model().objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD)
    # Mandatory email verification: a user of the tests has verified theirs.
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    if account is not None:
        Membership.objects.create(account=account, user=user, role=role)
    return user


def make_cluster(account: Account, name: str = "prod-search", **fields) -> Cluster:
    """A running cluster, as after provisioning."""
    defaults = {"version": "v1.19.0", "number_of_nodes": 3}
    cluster = cluster_create(account=account, name=name, **(defaults | fields))
    ClusterNode.objects.filter(cluster=cluster).update(state=NodeState.HEALTHY)
    Cluster.objects.filter(id=cluster.id).update(phase=Phase.HEALTHY)
    Operation.objects.filter(cluster=cluster).delete()  # its provisioning, as if long done
    cluster.refresh_from_db()
    return cluster


@pytest.fixture
def account(db):
    return Account.objects.create(name="Acme")


@pytest.fixture
def other_account(db):
    return Account.objects.create(name="Globex")


@pytest.fixture
def owner(account):
    return make_user("alice", account, Role.OWNER)


@pytest.fixture
def admin(account):
    return make_user("adam", account, Role.ADMIN)


@pytest.fixture
def developer(account):
    return make_user("dora", account, Role.DEVELOPER)


@pytest.fixture
def viewer(account):
    return make_user("victor", account, Role.VIEWER)


@pytest.fixture
def outsider(other_account):
    return make_user("charlie", other_account, Role.OWNER)


@pytest.fixture
def cluster(account):
    return make_cluster(account)


@pytest.fixture
def legacy_cluster(account):
    from datetime import datetime

    return make_cluster(account, name="old-cluster", created_at=datetime(2024, 11, 5, tzinfo=UTC))


@pytest.fixture
def other_cluster(other_account):
    return make_cluster(other_account, name="their-cluster")


@pytest.fixture
def client_of(client):
    """`client_of(user)`: the test client logged in as that user."""

    def login(user):
        client.force_login(user)
        return client

    return login


def _retry_flush_on_deadlock() -> None:
    """A transactional test's teardown truncates every table while fronts the
    test started may still be posting their last-used and usage reports to the
    live server; PostgreSQL then finds a deadlock and may pick the TRUNCATE as
    its victim, leaving the test's rows for the next test. The flush is one
    transaction, rolled back whole, so trying it again is safe."""
    from django.db import OperationalError
    from django.db.backends.base.operations import BaseDatabaseOperations

    flush = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        for attempt in range(5):
            try:
                return flush(self, sql_list)
            except OperationalError as error:
                if "deadlock" not in str(error) or attempt == 4:
                    raise
                time.sleep(0.1)

    BaseDatabaseOperations.execute_sql_flush = execute_sql_flush


def _clients_raise_only_their_own_errors() -> None:
    """Django's test client re-raises any exception signalled while its request
    runs, and the signal is process-wide: a front's long-poll answered by the
    live server's thread, failing there because the test in the main thread
    has no database access, was raised as that test's own error. A client now
    keeps only what the thread that made its request signalled (its handler
    runs in that thread)."""
    from django.test.client import Client

    request, store = Client.request, Client.store_exc_info

    def request_here(self, **kwargs):
        self._request_thread = threading.get_ident()
        return request(self, **kwargs)

    def store_own(self, **kwargs):
        if getattr(self, "_request_thread", None) == threading.get_ident():
            store(self, **kwargs)

    Client.request, Client.store_exc_info = request_here, store_own


def pytest_configure(config):
    from django.conf import settings

    # CPython 3.11 (this machine's 3.11.7; gh-106905 upstream) corrupts
    # ast.parse when two threads parse at once, and 3.11's tracebacks parse each
    # line for their ^^^ carets: a live-server thread printing an error while a
    # test or pytest itself parsed raised SystemError ("AST constructor
    # recursion depth mismatch"). Tracebacks without carets parse nothing.
    if sys.version_info < (3, 12):
        traceback._extract_caret_anchors_from_line_segment = lambda segment: None

    _retry_flush_on_deadlock()
    _clients_raise_only_their_own_errors()

    # Tests render templates without running collectstatic first.
    settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    settings.WHITENOISE_AUTOREFRESH = True
    # PBKDF2's hundreds of thousands of rounds cost a third of a second per password on
    # this machine, and most tests make several users: the strength is not what they test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Clusters of tests run on the embedded engine unless a test asks for
    # real nodes (tests/fixtures/qdrant.py), whatever QDRANT_BINARY says.
    settings.CLUSTER_RUNTIME = "embedded"
    # The test worker consumes a queue of its own (set before Celery reads
    # its configuration), so messages of a running console never mix in.
    settings.CELERY_TASK_DEFAULT_QUEUE = f"test-{uuid.uuid4().hex[:8]}"
