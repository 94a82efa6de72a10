import uuid

from django.db import models


class KeySetEpoch(models.Model):
    """One row that names this key set's history, written only when the log is pruned.

    A data plane process holds the epoch's `token` with the snapshot it built;
    when the row is gone or carries another token (a database flushed or
    restored, as the tests do between tests) its snapshot may hold keys that
    no change entry will ever remove, so it loads the whole key set again.
    `pruned_below`: entries with a smaller id may have been deleted; a process
    that has not applied everything below it cannot catch up from the log.
    """

    ROW_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=ROW_ID, editable=False)
    token = models.UUIDField(default=uuid.uuid4, editable=False)
    pruned_below = models.BigIntegerField(default=0)

    class Meta:
        db_table = "keyset_keysetepoch"  # made by the keyset app, which held it until the contract left Django

    def __str__(self) -> str:
        return f"key set epoch {self.token}"


class KeySetChange(models.Model):
    """One change of the key set, appended in the transaction that made it (fronts/changelog.py).

    What it names is what a data plane process re-reads to apply it: one key
    (`cluster_id`, `kind`, `key_id`), one cluster with all its keys (`kind`
    "cluster"), or nothing (`kind` "all": a full load). No foreign keys: the
    entry outlives the cluster or key it names (a delete must be seen).
    """

    class Kind(models.TextChoices):
        DATABASE_KEY = "database", "database API key"
        ADMIN_KEY = "admin", "admin key"
        CLUSTER = "cluster", "cluster and its keys"
        ALL = "all", "the whole key set"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    cluster_id = models.UUIDField(null=True, blank=True)
    key_id = models.UUIDField(null=True, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        db_table = "keyset_keysetchange"

    def __str__(self) -> str:
        return f"key set change {self.id} ({self.kind})"


class FrontCredential(models.Model):
    """What a front presents to the contract (KEYSET_CREDENTIAL, `<id>.<secret>`):
    shown once when made (`manage.py create_front_credential`), stored as a
    peppered digest, found by its id, revocable (the front is refused at once)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    pepper_id = models.PositiveSmallIntegerField()
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"front credential {self.name}"


class FrontInstance(models.Model):
    """One process of a front, as it last told the contract: where from, when,
    and the last change it applied (what read-your-writes waits for)."""

    credential = models.ForeignKey(FrontCredential, on_delete=models.CASCADE, related_name="instances")
    instance = models.CharField(max_length=300)  # the front's X-Front-Instance
    address = models.GenericIPAddressField(null=True)
    last_contact_at = models.DateTimeField()
    applied_sequence = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["credential", "instance"], name="front_instance_unique")]

    def __str__(self) -> str:
        return f"{self.credential.name} ({self.instance})"


class EmbeddedOwner(models.Model):
    """Which front holds an `embedded` cluster's storage (its collections,
    in that front's data directory): the one every other front forwards the
    cluster's storage operations to, at `address` (its DATAPLANE_STORAGE_ADDRESS;
    empty when it takes none from other hosts). Claimed by the first front that
    needs the storage (fronts.rows.embedded_claim); the owner reports the
    cluster's collection names here, which is where the console reads them.

    The owner is named by its front credential's name, not the row: `make run`
    makes its credential anew at each start under the same name (runall), and
    keeps the clusters it owned."""

    cluster = models.OneToOneField("clusters.Cluster", on_delete=models.CASCADE, primary_key=True,
                                   related_name="embedded_owner")
    front = models.CharField(max_length=100)
    address = models.CharField(max_length=300, blank=True)
    collections = models.JSONField(default=list)
    claimed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.front} owns the storage of cluster {self.cluster_id}"
