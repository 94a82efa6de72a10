"""Create once, reveal once: how a create form's POST makes at most one object.

Every console create form that reveals a secret once (database API keys,
admin keys, management keys, invitations) carries a one-time nonce that the
object it makes records (a unique `nonce` column). A repeated POST of that
form - a reload of the reveal page, a double click, two tabs - finds the
object the first one made instead of making a second one unnoticed; two
POSTs at the same moment are told apart by the unique constraint, which
fails the second one. "Key" below is whatever the form makes.
"""

import re
from collections.abc import Callable
from typing import NamedTuple

from django.db import IntegrityError
from django.db.models import Model

from createonce.forms import NONCE_PATTERN


class Outcome(NamedTuple):
    key: Model | None  # made now, or by an earlier POST of the same form
    secret: str | None  # only when made now: the one response that shows it
    elsewhere: bool = False  # the nonce made a key for another cluster or account: nothing made


def made_with(model: type[Model], nonce) -> Model | None:
    """The key of this model an earlier POST with this nonce made, if any."""
    # Only a nonce of the form's own shape reaches the database: PostgreSQL
    # refuses text with a NUL byte, which would be a 500.
    if not isinstance(nonce, str) or not re.fullmatch(NONCE_PATTERN, nonce):
        return None
    return model.objects.filter(nonce=nonce).first()


def belongs(key: Model, scope: dict) -> bool:
    """Whether `key` is of the cluster or account the form is for, e.g. scope={"cluster_id": id}."""
    return all(getattr(key, name) == value for name, value in scope.items())


def repeated(model: type[Model], nonce, scope: dict) -> Model | None:
    """The key this very form already made here: the POST is a repeat, show that key's page."""
    used = made_with(model, nonce)
    return used if used is not None and belongs(used, scope) else None


def create_once(
    model: type[Model], *, nonce: str, scope: dict, create: Callable[[], tuple[Model, str]]
) -> Outcome:
    """Calls `create` (a service that records `nonce` on its key) unless the nonce made a key already."""
    used = made_with(model, nonce)
    if used is None:
        try:
            key, secret = create()
        except IntegrityError:
            # The same form posted twice at once: the other request minted the key.
            used = made_with(model, nonce)
            if used is None:
                raise
        else:
            return Outcome(key, secret)
    return Outcome(used, None, elsewhere=not belongs(used, scope))
