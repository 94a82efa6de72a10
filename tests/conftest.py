"""Fixtures named after people with roles, in the style of healthchecks'
alice/bob/charlie: `owner`, `admin`, `developer` and `viewer` belong to the
`account`; `outsider` owns `other_account` and nothing else."""

import sys
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

pytest_plugins = [  # live_server first: tests.fixtures.dataplane imports it
    "tests.fixtures.live_server", "tests.fixtures.worker", "tests.fixtures.browser", "tests.fixtures.dataplane",
    "tests.fixtures.hosts", "tests.fixtures.qdrant", "tests.fixtures.nodes", "tests.fixtures.oidc", "tests.fixtures.elsewhere",
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


@pytest.fixture(scope="session")
def live_server(live_server):
    """pytest-django's, serving only during a test (tests/fixtures/live_server.py)."""
    from tests.fixtures.live_server import GATE

    httpd = live_server.thread.httpd
    GATE.app = httpd.get_app()
    httpd.set_app(GATE)
    return live_server


def pytest_configure(config):
    from django.conf import settings

    # CPython 3.11 (this machine's 3.11.7; gh-106905 upstream) corrupts
    # ast.parse when two threads parse at once, and 3.11's tracebacks parse each
    # line for their ^^^ carets: a live-server thread printing an error while a
    # test or pytest itself parsed raised SystemError ("AST constructor
    # recursion depth mismatch"). Tracebacks without carets parse nothing.
    if sys.version_info < (3, 12):
        traceback._extract_caret_anchors_from_line_segment = lambda segment: None

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


# Files whose tests take minutes (`--durations=0`, summed per file), longest
# first, run before all others in this order: make test's xdist workers each
# take whole files, and one of these taken last kept its worker busy for
# minutes after the others had finished. Seconds per file on the 2-core
# machine (load 5 to 13): tenant_front 142, api_schema 110, browser_pages 100
# to 150, supervision 115, dataplane_front 70 to 130, clusters_qdrant 77,
# runtime_qdrant 62, dataplane_bad_input 61, granular_enable 57.
LONGEST_FIRST = ("test_tenant_front.py", "test_api_schema.py", "test_browser_pages.py", "test_supervision.py",
                 "test_dataplane_front.py", "test_clusters_qdrant.py", "test_runtime_qdrant.py",
                 "test_dataplane_bad_input.py", "test_granular_enable.py")
_RANK = {name: rank for rank, name in enumerate(LONGEST_FIRST)}


def pytest_collection_modifyitems(items):
    # Stable: each file's own order kept, and the other files' collection order.
    items.sort(key=lambda item: _RANK.get(item.path.name, len(LONGEST_FIRST)))
