"""Members of an account: invitations, joining, roles, removal.

An account always keeps an owner: the last one can be neither removed nor
demoted, checked with the owners' rows locked so two concurrent requests
cannot each remove "the other" owner.
"""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Invitation, Membership
from accounts.roles import Role
from apikeys.tokens import current_pepper_id, token_digest, token_matches
from audit.models import Action
from audit.services import audit_record

INVITATION_VALID_FOR = timedelta(days=7)
INVITATION_SECRET_BYTES = 32  # 256 bits from `secrets`
# Longer than any secret this module makes; longer input is not digested at all.
MAX_SECRET_LENGTH = 100
INVALID_INVITATION = "This invitation link is not valid: it may have expired, been revoked or been used already."
LAST_OWNER = "An account needs an owner: make another member an owner first."


def may_grant(granter: Membership, role: str) -> bool:
    """Only an owner (write:account) may make or unmake owners; everyone
    with write:users may hand out the other roles."""
    return role != Role.OWNER or "write:account" in granter.permissions


@transaction.atomic
@sensitive_variables("secret")
def invitation_create(*, account, email: str, role: str, by, client_ip: str | None = None) -> tuple[Invitation, str]:
    """Invites `email` to `account` with `role`; returns the invitation and the link's secret.

    The secret exists only in the return value: the caller emails it and
    shows it once. Inviting the same address again revokes its earlier
    pending invitation, so only the newest link works.
    """
    email = email.strip()
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {account.name}."})
    now = timezone.now()
    account.invitations.filter(email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    invitation = Invitation(
        account=account,
        email=email,
        role=role,
        invited_by=by,
        expires_at=now + INVITATION_VALID_FOR,
        pepper_id=current_pepper_id(),
    )
    secret = secrets.token_urlsafe(INVITATION_SECRET_BYTES)
    invitation.digest = _digest(invitation, secret, invitation.pepper_id)
    invitation.full_clean()
    invitation.save(force_insert=True)
    audit_record(account=account, action=Action.MEMBER_INVITED, target=invitation, actor=by, client_ip=client_ip)
    return invitation, secret


@sensitive_variables("secret")
def _digest(invitation: Invitation, secret: str, pepper_id: int) -> str:
    # The id is digested with the secret, so a secret is good for its own invitation only.
    return token_digest(f"{invitation.id}.{secret}", pepper_id)


@sensitive_variables("secret")
def invitation_check(invitation_id, secret: str) -> Invitation | None:
    """The pending invitation this link stands for, or None: unknown, expired,
    used, revoked and wrong secret all look the same."""
    if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    invitation = Invitation.objects.select_related("account").filter(id=invitation_id).first()
    if invitation is None or not invitation.is_pending():
        return None
    if not token_matches(_Sealed(invitation), f"{invitation.id}.{secret}"):
        return None
    return invitation


class _Sealed:
    """An invitation as apikeys.tokens.token_matches reads stored secrets."""

    def __init__(self, invitation: Invitation):
        self.pepper_id, self.digest = invitation.pepper_id, invitation.digest


@transaction.atomic
@sensitive_variables("secret")
def invitation_accept(*, invitation_id, secret: str, user, client_ip: str | None = None) -> Membership:
    """Makes `user` a member with the invited role; the link works once."""
    invitation = invitation_check(invitation_id, secret)
    if invitation is None:
        raise ValidationError(INVALID_INVITATION)
    if Membership.objects.filter(account=invitation.account, user=user).exists():
        raise ValidationError(f"You are already a member of {invitation.account.name}.")
    # Claimed with a conditional update: of two requests with one link, one wins.
    claimed = Invitation.objects.filter(pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True).update(
        accepted_at=timezone.now(), accepted_by=user
    )
    if not claimed:
        raise ValidationError(INVALID_INVITATION)
    membership = Membership.objects.create(account=invitation.account, user=user, role=invitation.role)
    audit_record(
        account=invitation.account, action=Action.MEMBER_JOINED, target=membership, actor=user, client_ip=client_ip
    )
    return membership


@transaction.atomic
@sensitive_variables("secret", "password")
def invitation_sign_up(*, invitation_id, secret: str, username: str, password: str, client_ip: str | None = None):
    """Creates a user with the invited address and accepts the invitation as them."""
    invitation = invitation_check(invitation_id, secret)
    if invitation is None:
        raise ValidationError(INVALID_INVITATION)
    user = get_user_model().objects.create_user(username=username, email=invitation.email, password=password)
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
def member_change_role(*, membership: Membership, role: str, by: Membership, client_ip: str | None = None) -> None:
    if role not in {r.value for r in Role}:
        raise ValidationError({"role": f"{role!r} is not a role."})
    if not (may_grant(by, role) and may_grant(by, membership.role)):
        raise ValidationError({"role": "Only an owner can make or unmake owners."})
    owners = _lock_owners(membership.account)
    membership.refresh_from_db()
    if membership.role == role:
        return
    if membership.role == Role.OWNER and owners == [membership.id]:
        raise ValidationError({"role": LAST_OWNER})
    old = membership.role
    Membership.objects.filter(pk=membership.pk).update(role=role)
    membership.role = role
    audit_record(
        account=membership.account,
        action=Action.MEMBER_ROLE_CHANGED,
        target=membership,
        actor=by.user,
        client_ip=client_ip,
        detail=f"{Role(old).label} → {Role(role).label}",
    )


@transaction.atomic
def member_remove(*, membership: Membership, by: Membership, client_ip: str | None = None) -> None:
    """Ends the membership, and with it at once the member's sessions and their
    management keys of this account (the keys act as a member; see api/authentication.py)."""
    if not may_grant(by, membership.role):
        raise ValidationError("Only an owner can remove an owner.")
    owners = _lock_owners(membership.account)
    if membership.role == Role.OWNER and owners == [membership.id]:
        raise ValidationError(LAST_OWNER)
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


def end_sessions(user) -> int:
    """Logs `user` out everywhere: deletes the sessions (database-backed) that are theirs."""
    mine = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            mine.append(session.pk)
    Session.objects.filter(pk__in=mine).delete()
    return len(mine)
