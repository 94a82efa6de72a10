from django import forms

from audit.models import Action


class AuditFilterForm(forms.Form):
    """The audit log's filters, read from the query string; every one optional."""

    actor = forms.CharField(required=False, max_length=150, help_text="A username, a management key's name or prefix, or “system”.")
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *Action.choices])
    target = forms.CharField(required=False, max_length=255, help_text="An object's name or id.")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] > cleaned["until"]:
            raise forms.ValidationError("“From” is after “To”.")
        return cleaned

    def filters(self) -> dict:
        """The valid filters, for audit.selectors.audit_entries; none when the form is not valid."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value}
