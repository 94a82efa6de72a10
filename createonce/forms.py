import secrets

from django import forms
from django.core.validators import RegexValidator

NONCE_PATTERN = r"\A[A-Za-z0-9_-]{22,64}\Z"


def new_nonce() -> str:
    """A fresh one-time value for a create form; an idempotency key, not a secret."""
    return secrets.token_urlsafe(16)


class NonceForm(forms.Form):
    """A create form with a one-time nonce, which the created object records
    (unique): a repeated POST (a reload, a double click) finds that object
    instead of making a second one (createonce.services)."""

    nonce = forms.CharField(
        widget=forms.HiddenInput,
        validators=[RegexValidator(NONCE_PATTERN)],
        error_messages={"required": "This form is out of date. Check the values and submit again."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("nonce", new_nonce())
