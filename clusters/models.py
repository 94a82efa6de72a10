import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.functional import cached_property
from django.utils import timezone

from clusters import catalog, crypto

MAX_NODES = 20


class Phase(models.TextChoices):
    """Cluster phases of Qdrant Cloud's v1ClusterPhase, without the prefix."""

    CREATING = "CREATING", "Creating"
    FAILED_TO_CREATE = "FAILED_TO_CREATE", "Failed to create"
    UPDATING = "UPDATING", "Updating"
    FAILED_TO_UPDATE = "FAILED_TO_UPDATE", "Failed to update"
    SCALING = "SCALING", "Scaling"
    UPGRADING = "UPGRADING", "Upgrading"
    SUSPENDING = "SUSPENDING", "Suspending"
    SUSPENDED = "SUSPENDED", "Suspended"
    FAILED_TO_SUSPEND = "FAILED_TO_SUSPEND", "Failed to suspend"
    RESUMING = "RESUMING", "Resuming"
    FAILED_TO_RESUME = "FAILED_TO_RESUME", "Failed to resume"
    HEALTHY = "HEALTHY", "Healthy"
    NOT_READY = "NOT_READY", "Not ready"
    RECOVERY_MODE = "RECOVERY_MODE", "Recovery mode"
    MANUAL_MAINTENANCE = "MANUAL_MAINTENANCE", "Manual maintenance"
    FAILED_TO_SYNC = "FAILED_TO_SYNC", "Failed to sync"
    NOT_FOUND = "NOT_FOUND", "Not found"
    DELETING = "DELETING", "Deleting"
    UNKNOWN = "UNKNOWN", "Unknown"
    # Extension: a connected cluster the health check could not reach (the reason says why).
    UNREACHABLE = "UNREACHABLE", "Unreachable"


class NodeState(models.TextChoices):
    """Node states of Qdrant Cloud's v1ClusterNodeState, without the prefix."""

    STARTING = "STARTING", "Starting"
    HEALTHY = "HEALTHY", "Healthy"
    UNHEALTHY = "UNHEALTHY", "Unhealthy"
    SUSPENDED = "SUSPENDED", "Suspended"
    RECOVERING = "RECOVERING", "Recovering"


class Runtime(models.TextChoices):
    """What runs a cluster's nodes, fixed when the cluster is created."""

    EMBEDDED = "embedded", "Embedded (qdrant-edge in the data plane)"
    QDRANT = "qdrant", "Qdrant processes"
    CONNECTED = "connected", "Connected (runs elsewhere)"


class Access(models.TextChoices):
    """How clients reach a connected cluster."""

    THROUGH_FRONT = "ACCESS_THROUGH_FRONT", "Through the front"
    DIRECT = "ACCESS_DIRECT", "Directly"


cluster_name_validator = RegexValidator(
    r"\A[A-Za-z0-9_-]+\Z", "Use only letters, digits, underscores and dashes."
)


class Cluster(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="clusters")
    name = models.CharField(max_length=64, validators=[cluster_name_validator])
    cloud_provider = models.CharField(max_length=16, choices=catalog.PROVIDER_CHOICES)
    region = models.CharField(max_length=32)
    version = models.CharField(max_length=16, choices=[(v, v) for v in catalog.VERSIONS])
    number_of_nodes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_NODES)]
    )
    phase = models.CharField(max_length=24, choices=Phase.choices, default=Phase.CREATING)
    reason = models.CharField(max_length=255, blank=True)
    endpoint_url = models.CharField(max_length=255)
    rest_port = models.PositiveIntegerField(default=6333)
    grpc_port = models.PositiveIntegerField(default=6334)
    jwt_rbac = models.BooleanField(default=True)
    runtime = models.CharField(max_length=16, choices=Runtime.choices, default=Runtime.EMBEDDED)
    # Fernet token of the master API key; see clusters/crypto.py.
    master_key_encrypted = models.TextField(editable=False)
    # A connected cluster (runtime `connected`): the URL it was connected
    # with, the gRPC port it serves at that URL's host, the CA certificate
    # (PEM) that signs its TLS certificate if not a public one, how clients
    # reach it, and when the health task last looked.
    url = models.CharField(max_length=255, blank=True)
    connected_grpc_port = models.PositiveIntegerField(null=True, blank=True)
    ca_certificate = models.TextField(blank=True)
    access = models.CharField(max_length=24, choices=Access.choices, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    restarted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="cluster_name_unique_in_account")]

    def __str__(self) -> str:
        return self.name

    @property
    def master_key(self) -> str:
        return crypto.decrypt(self.master_key_encrypted)

    @property
    def running_version(self) -> str:
        """The version the cluster's runtime reports (clusters/runtime.py). Uses prefetched nodes when there are."""
        from clusters.runtime import runtime_for

        return runtime_for(self).version(self)

    @property
    def runs_where(self) -> str:
        from clusters.runtime import runtime_for

        return runtime_for(self).where(self)

    @property
    def restartable(self) -> bool:
        from clusters.runtime import runtime_for

        return runtime_for(self).restartable

    @property
    def is_legacy(self) -> bool:
        """Created before granular keys existed: admin keys until enabled."""
        return self.created_at.date() < catalog.GRANULAR_KEYS_SINCE

    @cached_property
    def active_operation(self) -> "Operation | None":
        """The operation under way (provisioning, a restart, enabling granular access), if any.

        Pages say what is happening from this, so no notice offers a button
        the operation has taken away."""
        return self.operations.filter(state__in=Operation.ACTIVE).first()


class ClusterNode(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="nodes")
    index = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=NodeState.choices, default=NodeState.STARTING)
    started_at = models.DateTimeField(null=True, blank=True)
    # Loopback ports of a `qdrant` node, allocated once and kept across restarts.
    http_port = models.PositiveIntegerField(null=True, blank=True)
    grpc_port = models.PositiveIntegerField(null=True, blank=True)
    p2p_port = models.PositiveIntegerField(null=True, blank=True)
    # A `qdrant` node's restarts: the generation asked for (a restart step
    # raises it, once, and records its operation so that a resumed step does
    # not raise it again), and what the node supervisor last saw of the node:
    # the generation it runs, the version it reports (`GET /`), and when.
    generation = models.PositiveIntegerField(default=0)
    generation_operation = models.UUIDField(null=True, blank=True)
    applied_generation = models.PositiveIntegerField(null=True, blank=True)
    version = models.CharField(max_length=32, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["cluster", "index"], name="node_index_unique_in_cluster")]

    @property
    def name(self) -> str:
        return f"node-{self.index}"

    def __str__(self) -> str:
        return f"{self.cluster.name}/{self.name}"


def default_endpoint(cluster_id: uuid.UUID) -> str:
    return settings.CLUSTER_ENDPOINT_URL.replace("{id}", str(cluster_id))


class Operation(models.Model):
    """A long job on a cluster that the user can follow: who asked, when, how far.

    Provisioning, restarts and enabling granular access are all operations of
    one machine (clusters/operations.py). The row is the source of truth, not
    the Celery message: a worker claims it with a lease token of its own,
    and every write it makes afterwards is conditional on still holding that
    token, so a worker that lost its lease (stalled, presumed dead, replaced)
    writes nothing. The sweeper re-dispatches operations whose message was
    lost or whose worker died.
    """

    class Kind(models.TextChoices):
        PROVISION = "PROVISION", "Provision"
        ENABLE_JWT = "ENABLE_JWT", "Enable granular access"
        RESTART = "RESTART", "Restart"
        DELETE = "DELETE", "Delete"

    class State(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RUNNING = "RUNNING", "Running"
        DONE = "DONE", "Done"
        # A node step raised (e.g. a runtime refused to start a node); the
        # cluster is FAILED_TO_CREATE or FAILED_TO_UPDATE with the reason.
        FAILED = "FAILED", "Failed"

    ACTIVE = (State.PENDING, State.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the task message was last handed to the broker (null: never, e.g. broker down).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The claim of the worker on it: a random token per claim, and until when
    # it holds. The worker renews the lease with every write; past it, the
    # worker is presumed dead and the sweeper clears the token.
    lease_token = models.CharField(max_length=64, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True)
    nodes_done = models.PositiveSmallIntegerField(default=0)
    current_node = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one live operation per cluster: two tabs or a double
            # click cannot start a second restart, even in a race.
            models.UniqueConstraint(
                fields=["cluster"],
                condition=models.Q(state__in=["PENDING", "RUNNING"]),
                name="one_active_operation_per_cluster",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.cluster_id} ({self.state})"

    @property
    def progress(self) -> str:
        provisioning = self.kind == self.Kind.PROVISION
        if self.kind == self.Kind.DELETE:
            return "Deleting" if self.state in self.ACTIVE else self.get_state_display()
        if self.state == self.State.PENDING:
            return "Provisioning scheduled" if provisioning else "Restart scheduled"
        if self.state == self.State.RUNNING:
            # Just claimed, before the first node's write: the node it resumes at.
            node = self.current_node if self.current_node is not None else self.nodes_done
            verb = "Starting" if provisioning else "Restarting"
            return f"{verb} node {min(node, self.cluster.number_of_nodes - 1) + 1} of {self.cluster.number_of_nodes}"
        return self.get_state_display()
