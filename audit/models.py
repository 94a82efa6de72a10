import uuid

from django.conf import settings
from django.db import models


class Action(models.TextChoices):
    ADMIN_KEY_CREATED = "admin_key.created", "Admin key created"
    ADMIN_KEY_DELETED = "admin_key.deleted", "Admin key deleted"
    ADMIN_KEY_ROLLED = "admin_key.rolled", "Admin key rolled"
    ADMIN_KEY_DISABLED = "admin_key.disabled", "Admin key disabled"
    ADMIN_KEY_ENABLED = "admin_key.enabled", "Admin key enabled"
    ADMIN_KEY_EDITED = "admin_key.edited", "Admin key edited"
    DATABASE_KEY_CREATED = "database_key.created", "Database API key created"
    DATABASE_KEY_DELETED = "database_key.deleted", "Database API key deleted"
    DATABASE_KEY_ROLLED = "database_key.rolled", "Database API key rolled"
    DATABASE_KEY_DISABLED = "database_key.disabled", "Database API key disabled"
    DATABASE_KEY_ENABLED = "database_key.enabled", "Database API key enabled"
    DATABASE_KEY_EDITED = "database_key.edited", "Database API key edited"
    MANAGEMENT_KEY_CREATED = "management_key.created", "Management key created"
    MANAGEMENT_KEY_DELETED = "management_key.deleted", "Management key deleted"
    MANAGEMENT_KEY_EDITED = "management_key.edited", "Management key edited"
    KEY_POLICY_CHANGED = "key_policy.changed", "Key policy changed"
    GRANULAR_ACCESS_ENABLED = "cluster.granular_access_enabled", "Granular access enabled"
    MASTER_KEY_CHANGED = "cluster.master_key_changed", "Master key changed"
    RESTART_STARTED = "cluster.restart_started", "Restart started"
    RESTART_FINISHED = "cluster.restart_finished", "Restart finished"
    CLUSTER_CREATED = "cluster.created", "Cluster created"
    CLUSTER_DELETED = "cluster.deleted", "Cluster deleted"
    LOGIN_FAILED = "user.login_failed", "Login failed"
    LOGIN_LOCKED_OUT = "user.locked_out", "Login locked out after repeated failures"
    MEMBER_INVITED = "member.invited", "Member invited"
    INVITATION_REVOKED = "member.invitation_revoked", "Invitation revoked"
    MEMBER_JOINED = "member.joined", "Member joined"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member's role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    ROLE_CREATED = "role.created", "Role created"
    ROLE_CHANGED = "role.changed", "Role changed"
    ROLE_DELETED = "role.deleted", "Role deleted"
    LOGIN = "user.login", "Logged in"
    SECOND_FACTOR_ADDED = "user.second_factor_added", "Second factor added"
    SECOND_FACTOR_REMOVED = "user.second_factor_removed", "Second factor removed"
    RECOVERY_CODES_RENEWED = "user.recovery_codes_renewed", "Recovery codes renewed"
    RECOVERY_CODE_USED = "user.recovery_code_used", "Recovery code used"
    SECOND_FACTOR_FAILED = "user.second_factor_failed", "Wrong second-factor code"
    PASSWORD_CHANGED = "user.password_changed", "Password changed"
    SESSIONS_ENDED = "user.sessions_ended", "Sessions ended"
    SECOND_FACTOR_REQUIRED = "account.second_factor_required", "Second factor required of every member"
    SECOND_FACTOR_NOT_REQUIRED = "account.second_factor_not_required", "Second factor no longer required"
    ACCOUNT_CREATED = "account.created", "Account created"


# model_name of an audited object -> what the console calls it.
TARGET_LABELS = {
    "cluster": "Cluster",
    "adminkey": "Admin key",
    "databaseapikey": "Database API key",
    "managementkey": "Management key",
    "keypolicy": "Key policy",
    "membership": "Member",
    "invitation": "Invitation",
    "customrole": "Role",
    "user": "User",
    "account": "Account",
}


class ImmutableEntry(Exception):
    """Raised by any attempt to change or delete an audit entry through the ORM."""


class AuditEntryQuerySet(models.QuerySet):
    """Entries are written once and never changed or deleted by the application:
    the bulk paths refuse too, not only `save()` and `delete()` of one entry.
    Only the retention task removes entries, through `prune_before`."""

    def update(self, **kwargs):
        # One change is let through: Django's deletion of a user or a management
        # key sets these links to NULL (on_delete=SET_NULL, by QuerySet.update).
        # The entry keeps who it was in text (actor_name, via_key_name).
        if kwargs and set(kwargs) <= {"actor", "via_key"} and all(value is None for value in kwargs.values()):
            return super().update(**kwargs)
        raise ImmutableEntry("Audit entries cannot be changed.")

    def delete(self):
        raise ImmutableEntry("Audit entries cannot be deleted; AUDIT_RETENTION_DAYS prunes old ones.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise ImmutableEntry("Audit entries cannot be changed.")

    def prune_before(self, cutoff) -> int:
        """Removes entries older than `cutoff`: the retention task's one way to delete."""
        doomed = self.model.objects.filter(created_at__lt=cutoff)
        # _raw_delete: one DELETE statement, bypassing the refusal above (and
        # signals, which no one listens to here).
        return doomed._raw_delete(doomed.db)


class AuditEntry(models.Model):
    """Who did what to which object of an account, when, and from where."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="audit_entries")
    # Kept as text too, so the entry still says who after the user is deleted.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True)
    # Set when the actor acted through the management API with a management
    # key (which acts as `actor`): the key's name and prefix, kept as text too.
    via_key = models.ForeignKey(
        "managementkeys.ManagementKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via_key_name = models.CharField(max_length=160, blank=True, default="")
    action = models.CharField(max_length=64, choices=Action.choices)
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64)
    target_name = models.CharField(max_length=255, blank=True)
    # What changed, in words, where the action alone does not say (e.g. "Viewer → Admin").
    # Text, kept whole however long: a role's edit lists every permission it changed.
    detail = models.TextField(blank=True, default="")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableEntry("Audit entries cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableEntry("Audit entries cannot be deleted.")

    @property
    def actor_kind(self) -> str:
        if self.via_key_name:
            return "management key"
        if self.actor_id is None and self.actor_name == "unknown":
            return "unknown"  # whoever typed the wrong password: not a known user
        return "user" if self.actor_name else "system"

    @property
    def actor_label(self) -> str:
        """Who, in words: "alice", "ci deploy (3f9a0c1b2d4e…), a management key of alice", or "system"."""
        if self.via_key_name:
            return f"{self.via_key_name}, a management key of {self.actor_name}"
        return self.actor_name or "system"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action} {self.target_name}"

    @property
    def target_label(self) -> str:
        """The object's kind in the words of the console, e.g. "Admin key"."""
        return TARGET_LABELS.get(self.target_type, self.target_type)
