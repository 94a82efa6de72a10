"""Members of an account: invitations, joining, roles, removal; custom roles.

An account always keeps an owner: the last one can be neither removed nor
demoted, checked with the owners' rows locked so two concurrent requests
cannot each remove "the other" owner.

Who may change what a role is or who holds it is decided in one place,
role_change_check: the caller must hold every permission of the role before
and after the change (creating, editing or deleting a custom role, moving a
member from one role to another, removing a member, inviting one), so no one
makes, widens, narrows, hands out or takes away more than they are: for the
system roles that is "only an owner makes or unmakes owners".
A custom role in use, by a member or a pending invitation, cannot be
deleted; its row is locked while it is given out or deleted, so the two
cannot cross.
"""

import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import AnyRole, CustomRole, Invitation, Membership, role_name, role_permissions
from accounts.roles import PERMISSIONS, Role
from audit.models import Action
from audit.services import audit_record
from createonce.digests import current_pepper_id, token_digest, token_matches

INVITATION_VALID_FOR = timedelta(days=7)
INVITATION_SECRET_BYTES = 32  # 256 bits from `secrets`
# Longer than any secret this module makes; longer input is not digested at all.
MAX_SECRET_LENGTH = 100
INVALID_INVITATION = "This invitation link is not valid: check that you opened the whole link from the email."
# What a link whose secret is right says when it no longer works; a wrong secret is as unknown as a made-up id.
INVITATION_ENDED = {
    "used": "This invitation link is not valid any more: it was used already (it works once).",
    "revoked": "This invitation link is not valid any more: it was revoked, or replaced by a newer invitation "
    "to the same address. Ask whoever invited you for a new one.",
    "expired": "This invitation link is not valid any more: it expired on {expires_at:%Y-%m-%d %H:%M} UTC. "
    "Ask whoever invited you for a new one.",
}
LAST_OWNER = "An account needs an owner: make another member an owner first."


ROLE_IN_USE = "{name} is in use: give its {holders} another role first."
MAX_ROLE_NAME = CustomRole._meta.get_field("name").max_length

def as_role(role) -> AnyRole:
    """A system role from its value ("viewer"); a custom role as it is."""
    if isinstance(role, CustomRole):
        return role
    try:
        return Role(role)
    except ValueError:
        raise ValidationError({"role": f"{role!r} is not a role."}) from None


def role_fields(role: AnyRole) -> dict:
    """The model fields (of HoldsRole) that say `role`."""
    if isinstance(role, CustomRole):
        return {"role": "", "custom_role": role}
    return {"role": role.value, "custom_role": None}


def may_grant(granter: Membership, role) -> bool:
    """Whether `granter` holds all that `role` allows (the forms offer only such roles)."""
    return role_permissions(as_role(role)) <= granter.permissions


class GrantRefused(ValidationError):
    """The caller may not make this change of a role or of who holds it (see role_change_check)."""


def role_change_check(
    *, by: Membership, before: AnyRole | None, after: AnyRole | None, member: Membership | None = None,
    field: str = "role",
) -> None:
    """The one rule for every change of a role or of who holds one.

    `before` and `after` are the role as it is and as it would be: for an
    edited custom role, two CustomRole objects with the old and the new
    permissions; for a member, their role now and the one they would hold.
    None where there is none: a role created (before) or deleted (after), a
    member invited (before) or removed (after). The caller `by` must hold
    every permission of both. With `member`, the account must keep an owner:
    call it inside the transaction, the owners' rows stay locked till it ends.

    Raises GrantRefused (under `field`) or ValidationError (the last owner).
    """
    owners = _lock_owners(member.account) if member is not None else None
    for role in (before, after):
        if role is not None and not may_grant(by, role):
            raise GrantRefused({field: grant_refusal(by, role, removing=after is None and member is not None)})
    if owners is not None and after != Role.OWNER and owners == [member.id]:
        raise ValidationError({field: LAST_OWNER})


def grant_refusal(granter: Membership, role: AnyRole, removing: bool = False) -> str:
    if role == Role.OWNER:
        return "Only an owner can remove an owner." if removing else "Only an owner can make or unmake owners."
    lacking = sorted(role_permissions(role) - granter.permissions)
    return (
        f"{role_name(role)} allows what your role does not ({', '.join(lacking)}): only someone who holds all "
        "of a role can give it, take it away, change it or delete it."
    )


def _lock_custom_role(role: AnyRole) -> AnyRole:
    """The custom role's row locked till the transaction ends (see the module's note);
    ValidationError if it was deleted meanwhile."""
    if not isinstance(role, CustomRole):
        return role
    locked = CustomRole.objects.select_for_update().filter(pk=role.pk, account_id=role.account_id).first()
    if locked is None:
        raise ValidationError({"role": "This role no longer exists."})
    return locked


@transaction.atomic
@sensitive_variables("secret")
def invitation_create(
    *, account, email: str, role, by, client_ip: str | None = None, nonce: str | None = None
) -> tuple[Invitation, str]:
    """Invites `email` to `account` with `role`; returns the invitation and the link's secret.

    The secret exists only in the return value: the caller emails it and
    shows it once. Inviting the same address again revokes its earlier
    pending invitation, so only the newest link works. `nonce`: the invite
    form's, recorded so a repeated POST makes nothing (createonce/).
    """
    email = email.strip()
    role = _lock_custom_role(as_role(role))
    if isinstance(role, CustomRole) and role.account_id != account.id:
        raise ValidationError({"role": "No such role in this account."})
    granter = Membership.objects.select_related("account", "custom_role").filter(account=account, user=by).first()
    if granter is None:
        raise GrantRefused({"role": "Only a member of the account can invite to it."})
    role_change_check(by=granter, before=None, after=role)
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {account.name}."})
    now = timezone.now()
    replaced = list(
        account.invitations.select_for_update().filter(email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True)
    )
    for earlier in replaced:
        Invitation.objects.filter(pk=earlier.pk).update(revoked_at=now)
        audit_record(
            account=account, action=Action.INVITATION_REVOKED, target=earlier, actor=by, client_ip=client_ip,
            detail="replaced by a new invitation to the same address",
        )
    invitation = Invitation(
        account=account,
        email=email,
        **role_fields(role),
        invited_by=by,
        expires_at=now + INVITATION_VALID_FOR,
        pepper_id=current_pepper_id(),
        nonce=nonce,
    )
    secret = secrets.token_urlsafe(INVITATION_SECRET_BYTES)
    invitation.digest = _digest(invitation, secret, invitation.pepper_id)
    invitation.full_clean(exclude=["nonce"])
    invitation.save(force_insert=True)
    audit_record(
        account=account, action=Action.MEMBER_INVITED, target=invitation, actor=by, client_ip=client_ip,
        detail=f"as {role_name(role)}" + ("; sent again: the earlier link no longer works" if replaced else ""),
    )
    return invitation, secret


@sensitive_variables("secret")
def _digest(invitation: Invitation, secret: str, pepper_id: int) -> str:
    # The id is digested with the secret, so a secret is good for its own invitation only.
    return token_digest(f"{invitation.id}.{secret}", pepper_id)


@sensitive_variables("secret")
def invitation_for_link(invitation_id, secret: str) -> tuple[Invitation | None, str | None]:
    """The invitation this link stands for and, if it no longer works, why
    (INVITATION_ENDED, or INVALID_INVITATION for an unknown id or a wrong
    secret, which look the same, so the page tells no one which ids exist)."""
    if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_LENGTH:
        return None, INVALID_INVITATION
    invitation = (
        Invitation.objects.select_related("account", "invited_by", "custom_role").filter(id=invitation_id).first()
    )
    if invitation is None or not token_matches(_Sealed(invitation), f"{invitation.id}.{secret}"):
        return None, INVALID_INVITATION
    if invitation.accepted_at is not None:
        return invitation, INVITATION_ENDED["used"]
    if invitation.revoked_at is not None:
        return invitation, INVITATION_ENDED["revoked"]
    if not invitation.is_pending():
        return invitation, INVITATION_ENDED["expired"].format(expires_at=invitation.expires_at)
    return invitation, None


@sensitive_variables("secret")
def invitation_check(invitation_id, secret: str) -> Invitation:
    """The pending invitation this link stands for; ValidationError saying why not."""
    invitation, ended = invitation_for_link(invitation_id, secret)
    if ended:
        raise ValidationError(ended)
    return invitation


class _Sealed:
    """An invitation as createonce.digests.token_matches reads stored secrets."""

    def __init__(self, invitation: Invitation):
        self.pepper_id, self.digest = invitation.pepper_id, invitation.digest


@transaction.atomic
@sensitive_variables("secret")
def invitation_accept(*, invitation_id, secret: str, user, client_ip: str | None = None) -> Membership:
    """Makes `user` a member with the invited role; the link works once."""
    invitation = invitation_check(invitation_id, secret)
    if Membership.objects.filter(account=invitation.account, user=user).exists():
        raise ValidationError(f"You are already a member of {invitation.account.name}.")
    refusal = wrong_invitee(invitation, user)
    if refusal:
        raise ValidationError(refusal)
    # Claimed with a conditional update: of two requests with one link, one wins.
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        accepted_at=timezone.now(), accepted_by=user
    )
    if not claimed:
        raise ValidationError(INVALID_INVITATION)
    role = invitation.held_role
    if role is None:  # its custom role was deleted (it cannot be while the invitation is pending, but be sure)
        raise ValidationError(INVALID_INVITATION)
    membership = Membership.objects.create(account=invitation.account, user=user, **role_fields(_lock_custom_role(role)))
    audit_record(
        account=invitation.account, action=Action.MEMBER_JOINED, target=membership, actor=user, client_ip=client_ip,
        detail=f"with the invitation to {invitation.email}, as {role_name(role)}",
    )
    return membership


def wrong_invitee(invitation: Invitation, user) -> str | None:
    """Why `user` may not accept this invitation, or None: an invitation is for
    its address, so a forwarded or leaked link lets no one else in."""
    if (user.email or "").strip().lower() == invitation.email.strip().lower():
        return None
    return (
        f"This invitation is for {invitation.email}, and you are logged in as {user.get_username()}. "
        f"Log out, then sign up with the link or log in as the user with {invitation.email}."
    )


@transaction.atomic
@sensitive_variables("secret", "password")
def invitation_sign_up(*, invitation_id, secret: str, username: str, password: str, client_ip: str | None = None):
    """Creates a user with the invited address and accepts the invitation as them."""
    invitation = invitation_check(invitation_id, secret)
    if get_user_model().objects.filter(email__iexact=invitation.email).exists():
        raise ValidationError(f"A user with the address {invitation.email} exists already: log in as them to accept.")
    user = get_user_model().objects.create_user(username=username, email=invitation.email, password=password)
    # The invitation reached this address: it is verified.
    EmailAddress.objects.create(user=user, email=invitation.email, verified=True, primary=True)
    invitation_accept(invitation_id=invitation_id, secret=secret, user=user, client_ip=client_ip)
    return user


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, by, client_ip: str | None = None) -> None:
    revoked = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        audit_record(
            account=invitation.account, action=Action.INVITATION_REVOKED, target=invitation, actor=by, client_ip=client_ip
        )


def _lock_owners(account) -> list[int]:
    """The ids of the account's owner memberships, locked until the transaction ends."""
    return list(
        Membership.objects.select_for_update().filter(account=account, role=Role.OWNER).values_list("id", flat=True)
    )


@transaction.atomic
def member_change_role(*, membership: Membership, role, by: Membership, client_ip: str | None = None) -> None:
    """Gives the member `role` (a system role's value or a custom role of the account)."""
    role = as_role(role)
    if isinstance(role, CustomRole) and role.account_id != membership.account_id:
        raise ValidationError({"role": "No such role in this account."})
    role = _lock_custom_role(role)
    membership.refresh_from_db()
    old = membership.held_role
    if old == role:
        return
    role_change_check(by=by, before=old, after=role, member=membership)
    fields = role_fields(role)
    Membership.objects.filter(pk=membership.pk).update(**fields)
    for name, value in fields.items():
        setattr(membership, name, value)
    audit_record(
        account=membership.account,
        action=Action.MEMBER_ROLE_CHANGED,
        target=membership,
        actor=by.user,
        client_ip=client_ip,
        detail=f"{role_name(old)} → {role_name(role)}",
    )


@transaction.atomic
def member_remove(*, membership: Membership, by: Membership, client_ip: str | None = None) -> None:
    """Ends the membership, and with it at once the member's sessions and their
    management keys of this account (the keys act as a member; see api/authentication.py)."""
    role_change_check(by=by, before=membership.held_role, after=None, member=membership)
    deleted, _ = Membership.objects.filter(pk=membership.pk).delete()
    if not deleted:
        return
    end_sessions(membership.user)
    audit_record(
        account=membership.account,
        action=Action.MEMBER_REMOVED,
        target=membership,
        actor=by.user,
        client_ip=client_ip,
    )


def _check_custom_role(role: CustomRole) -> None:
    """Validates a new or changed custom role; ValidationError by field, nothing saved."""
    errors = {}
    name = role.name if isinstance(role.name, str) else ""
    if not name.strip():
        errors["name"] = "Give the role a name."
    elif len(name) > MAX_ROLE_NAME or not name.isprintable():
        errors["name"] = f"A role's name is 1–{MAX_ROLE_NAME} printable characters."
    elif name.strip().lower() in {r.label.lower() for r in Role}:
        errors["name"] = f"{name.strip()} is the name of a system role."
    elif role.account.custom_roles.filter(name__iexact=name.strip()).exclude(pk=role.pk).exists():
        errors["name"] = f"{role.account.name} already has a role named {name.strip()}."
    unknown = [p for p in role.permissions if p not in PERMISSIONS]
    if unknown:
        errors["permissions"] = (
            f"Not a permission: {', '.join(map(repr, unknown))}. The permissions are those IAM's ListPermissions lists."
        )
    elif not role.permissions:
        errors["permissions"] = "Pick at least one permission."
    if "\x00" in role.description:
        errors["description"] = "A description cannot hold NUL characters."
    if errors:
        raise ValidationError(errors)
    role.name = name.strip()
    # Stored in the IAM service's order, once each.
    role.permissions = [p for p in PERMISSIONS if p in role.permissions]
    role.full_clean()


@transaction.atomic
def custom_role_create(
    *, account, name: str, description: str, permissions, by: Membership, client_ip: str | None = None
) -> CustomRole:
    role = CustomRole(account=account, name=name, description=description or "", permissions=list(permissions))
    _check_custom_role(role)
    role_change_check(by=by, before=None, after=role, field="permissions")
    _save_custom_role(role, force_insert=True)
    audit_record(
        account=account,
        action=Action.ROLE_CREATED,
        target=role,
        actor=by.user,
        client_ip=client_ip,
        detail=", ".join(role.permissions),
    )
    return role


@transaction.atomic
def custom_role_update(
    *, role: CustomRole, name: str, description: str, permissions, by: Membership, client_ip: str | None = None
) -> CustomRole:
    """Changes the role; its members have the new permissions from their next request.

    Any change, a rename too, needs a caller who holds all the role allows,
    before and after (role_change_check): else someone with write:roles could
    strip an owner-made role of its members' rights, or give it more.
    """
    role = _lock_custom_role(role)
    was = CustomRole(account=role.account, name=role.name, permissions=list(role.permissions))
    before = (role.name, role.description, set(role.permissions))
    role.name, role.description, role.permissions = name, description or "", list(permissions)
    _check_custom_role(role)
    changes = []
    if role.name != before[0]:
        changes.append(f"renamed {before[0]} → {role.name}")
    if role.description != before[1]:
        changes.append("description changed")
    added, removed = set(role.permissions) - before[2], before[2] - set(role.permissions)
    changes += [f"+{p}" for p in PERMISSIONS if p in added] + [f"−{p}" for p in PERMISSIONS if p in removed]
    if not changes:
        return role
    role_change_check(by=by, before=was, after=role, field="permissions")
    _save_custom_role(role)
    audit_record(
        account=role.account,
        action=Action.ROLE_CHANGED,
        target=role,
        actor=by.user,
        client_ip=client_ip,
        detail="; ".join(changes),
    )
    return role


def _save_custom_role(role: CustomRole, **kwargs) -> None:
    # The name check above reads before it writes: of two requests giving one
    # name, the unique constraint stops the second.
    try:
        with transaction.atomic():
            role.save(**kwargs)
    except IntegrityError:
        raise ValidationError({"name": f"{role.account.name} already has a role named {role.name}."}) from None


def custom_role_holders(role: CustomRole) -> tuple[int, int]:
    """(members, pending invitations) that hold the role."""
    now = timezone.now()
    pending = role.invitations.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)
    return role.memberships.count(), pending.count()


def role_in_use_message(role: CustomRole, members: int, invitations: int) -> str:
    holders = " and ".join(
        part
        for part in (
            f"{members} member{'s' if members != 1 else ''}" if members else "",
            f"{invitations} pending invitation{'s' if invitations != 1 else ''}" if invitations else "",
        )
        if part
    )
    return ROLE_IN_USE.format(name=role.name, holders=holders)


class RoleInUse(ValidationError):
    """A custom role that members or pending invitations hold cannot be deleted."""


@transaction.atomic
def custom_role_delete(*, role: CustomRole, by: Membership, client_ip: str | None = None) -> None:
    role = _lock_custom_role(role)
    role_change_check(by=by, before=role, after=None)
    members, invitations = custom_role_holders(role)
    if members or invitations:
        raise RoleInUse(role_in_use_message(role, members, invitations))
    audit_record(
        account=role.account,
        action=Action.ROLE_DELETED,
        target=role,
        actor=by.user,
        client_ip=client_ip,
        detail=", ".join(role.permissions),
    )
    role.delete()


def end_sessions(user) -> int:
    """Logs `user` out everywhere: deletes the sessions (database-backed) that are theirs."""
    mine = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            mine.append(session.pk)
    Session.objects.filter(pk__in=mine).delete()
    return len(mine)
