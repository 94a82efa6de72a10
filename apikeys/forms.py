from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.db.models import TextChoices
from django.utils import timezone

from apikeys.models import (
    COLLECTION_NAME_MESSAGE,
    COLLECTION_NAME_PATTERN,
    DESCRIPTION_MAX_LENGTH,
    KEY_NAME_PATTERN,
    MAX_EXPIRY_DAYS,
    MAX_RULES,
    MAX_NETWORKS,
    ClusterAccess,
    CollectionAccess,
    KeyPolicy,
    TenantType,
    parse_networks,
)
from apikeys.key_policy import limits_text, max_days, needs_allowlist
from apikeys.policy import ADMIN, DATABASE
from apikeys.selectors import KEY_ORDERS
from apikeys.states import LISTED_STATES
from apikeys.policy import roll_permission
from apikeys.services import ROLL_GRACE, ROLL_GRACE_LABELS
from createonce.forms import NonceForm
from clusters.runtime import CollectionsUnreadable, runtime_for

DEFAULT_EXPIRY_DAYS = 90
NEVER_HINT = "leave the field empty for a key that never expires."
# The rule as the form states it (help text = the rule). "Letters" are the
# ASCII letters only: Qdrant Cloud's own check of a key name (its public API
# says "letters, numbers, spaces, underscores and dashes", spec/cloud-api/)
# is not published as a pattern, so the console keeps to the subset every
# reading of that sentence accepts; "ключ тест" or "clé" are refused, and
# the message says why (issue 14).
KEY_NAME_RULE = "4–128 characters: letters A–Z and a–z, digits, spaces, underscores (_) and dashes (-)."
KEY_NAME_FORM_MESSAGE = (
    "Use only letters A–Z and a–z (no accented letters or other alphabets), digits, spaces, "
    "underscores (_) and dashes (-)."
)


def _ecma(pattern: str) -> str:
    """A Python pattern anchored with \\A and \\Z as a JavaScript RegExp source."""
    return "^" + pattern.removeprefix("\\A").removesuffix("\\Z") + "$"


def expiry_date(days: int | None):
    return None if days is None else timezone.now() + timedelta(days=days)


class Scope(TextChoices):
    """The two tabs of the Access part of the form; a key has rules of one kind only."""

    CLUSTER = "cluster", "Cluster-wide"
    COLLECTIONS = "collections", "Collections"


class CollectionRowsWidget(forms.Widget):
    """The Collections tab: rows posted as two parallel lists, `<name>_name` and `<name>_access`.

    Every row posts exactly one of each (a known collection's name is a hidden
    input and its access a select with "No access"; a new collection is a text
    input and a select), so the lists line up by position.
    """

    def value_from_datadict(self, data, files, name):
        getlist = getattr(data, "getlist", lambda key: [data[key]] if key in data else [])
        return getlist(f"{name}_name"), getlist(f"{name}_access")

    def value_omitted_from_data(self, data, files, name):
        return f"{name}_name" not in data and f"{name}_access" not in data


class CollectionRowsField(forms.Field):
    """The posted rows as (name, access) pairs; DatabaseApiKeyForm.clean() judges them."""

    widget = CollectionRowsWidget

    def to_python(self, value):
        names, levels = value if isinstance(value, tuple) else ([], [])
        if len(names) != len(levels):
            raise forms.ValidationError("Each collection needs one access level. Reload the page and try again.")
        return [(str(name).strip(), str(level).strip()) for name, level in zip(names, levels, strict=True)]


# A service's field names, where a create form shows their errors (None: at the top).
SERVICE_FIELDS = {"expires_at": "expires_in_days"}


def add_service_error(form: forms.Form, error, fields: dict = SERVICE_FIELDS) -> None:
    """A service's ValidationError next to the field it is about (the key policy's
    rules name `expires_at` or `allowed_networks`), else at the top of the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        field = fields.get(field, field)
        form.add_error(field if field in form.fields else None, errors)


class KeyForm(NonceForm):
    """What creating either kind of key asks: a name and an expiry, with the
    one-time nonce that makes a repeated POST harmless."""

    name = forms.CharField(
        min_length=4,
        max_length=128,
        validators=[RegexValidator(KEY_NAME_PATTERN, KEY_NAME_FORM_MESSAGE)],
        help_text=KEY_NAME_RULE,
        error_messages={
            "required": "Give the key a name.",
            "min_length": "Use at least 4 characters (this has %(show_value)d).",
            "max_length": "Use at most 128 characters (this has %(show_value)d).",
        },
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)",
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        initial=DEFAULT_EXPIRY_DAYS,
        # Text, not type=number: a browser empties a number field it cannot
        # read, which would post "" and make a key that never expires.
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
        help_text=f"1–{MAX_EXPIRY_DAYS} days; leave empty for a key that never expires.",
        error_messages={
            "invalid": "Enter a whole number of days, or leave the field empty for a key that never expires.",
            "min_value": "A key lasts at least 1 day; " + NEVER_HINT,
            "max_value": f"At most {MAX_EXPIRY_DAYS} days (10 years); " + NEVER_HINT,
        },
    )

    allowed_networks = forms.CharField(
        label="Allowed addresses",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off",
                                     "aria-describedby": "id_allowed_networks-help"}),
        help_text=(
            "Optional: IPv4 or IPv6 networks in CIDR notation (203.0.113.0/24, 2001:db8::/32) or single addresses, "
            f"one a line, at most {MAX_NETWORKS}. Requests from anywhere else are refused. Empty: from anywhere. "
            "Fixed for the life of the key, like its access rules."
        ),
    )

    def clean_allowed_networks(self) -> list[str]:
        try:
            return parse_networks(self.cleaned_data["allowed_networks"])
        except forms.ValidationError as error:
            raise forms.ValidationError(error.messages) from None

    policy_kind: str  # which of the account's key policy's limits apply (apikeys.key_policy)

    def __init__(self, *args, policy: KeyPolicy | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        name, days = self.fields["name"], self.fields["expires_in_days"]
        # The static script (apikeys/keys.js) checks both before submit with
        # the same rules and the same messages as the server.
        name.widget.attrs.update(
            {
                "autocomplete": "off", "autofocus": True, "aria-describedby": "id_name-help",
                "data-rule-pattern": _ecma(KEY_NAME_PATTERN), "data-rule-min": 4, "data-rule-max": 128,
                "data-error-required": name.error_messages["required"],
                "data-error-pattern": KEY_NAME_FORM_MESSAGE,
                "data-error-min": "Use at least 4 characters (this has {n}).",
                "data-error-max": "Use at most 128 characters (this has {n}).",
            }
        )
        days.widget.attrs.update(
            {
                "data-expiry-days": True, "aria-describedby": "id_expires_in_days-help id_expires_in_days-preview",
                "data-rule-min": 1, "data-rule-max": MAX_EXPIRY_DAYS,
                "data-error-invalid": days.error_messages["invalid"],
                "data-error-min": days.error_messages["min_value"],
                "data-error-max": days.error_messages["max_value"],
            }
        )
        self.policy_note = ""
        if policy is not None:
            self._show_policy(policy)

    def _show_policy(self, policy: KeyPolicy) -> None:
        """The account's limits, shown before one types: a note, the days field's
        help, default and the script's bound (the service enforces them)."""
        self.policy_note = limits_text(policy, self.policy_kind)
        days = self.fields["expires_in_days"]
        limit = max_days(policy, self.policy_kind)
        may_never_expire = limit is None and policy.allow_no_expiry
        if limit is not None:
            days.initial = min(DEFAULT_EXPIRY_DAYS, limit)
            message = f"The account's key policy: at most {limit} days."
            days.widget.attrs.update({"data-rule-max": limit, "data-error-max": message})
        if not may_never_expire:
            days.help_text = f"1–{limit or MAX_EXPIRY_DAYS} days (the account's key policy: every key expires)."
        elif limit is not None:
            days.help_text = f"1–{limit} days (the account's key policy)."
        if needs_allowlist(policy, self.policy_kind) or (
            self.policy_kind == DATABASE and policy.manage_keys_need_allowlist
        ):
            networks = self.fields["allowed_networks"]
            networks.help_text = networks.help_text.replace("Empty: from anywhere.", "") + (
                " The account's key policy requires them" + (" for cluster-wide Manage/Write access."
                                                            if self.policy_kind == DATABASE else ".")
            )

    def full_clean(self):
        super().full_clean()
        # After a refused submit, the first field at fault has the focus and
        # says it is invalid, with its error read out (not Name, always).
        if not self.is_bound or not self.errors:
            return
        fields = [f for f in ("name", "expires_in_days", "allowed_networks") if f in self.fields]
        first = next((f for f in fields if f in self.errors), None)
        for field in fields:
            attrs = self.fields[field].widget.attrs
            attrs.pop("autofocus", None)
            if field in self.errors:
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{attrs['aria-describedby']} id_{field}-error"
        if first:
            self.fields[first].widget.attrs["autofocus"] = True

    def clean(self):
        cleaned = super().clean()
        if "expires_in_days" in cleaned:
            cleaned["expires_at"] = expiry_date(cleaned["expires_in_days"])
        return cleaned

    def expiry_preview(self):
        """The expiry the current value gives: a datetime, None for never, or "" when unreadable."""
        value = self["expires_in_days"].value()
        if value in (None, ""):
            return None
        try:
            days = int(str(value).strip())
        except ValueError:
            return ""
        return expiry_date(days) if 1 <= days <= MAX_EXPIRY_DAYS else ""


class AdminKeyForm(KeyForm):
    """An admin key has no access rules: it always grants full access to its cluster."""

    policy_kind = ADMIN


class DatabaseApiKeyForm(KeyForm):
    policy_kind = DATABASE

    scope = forms.ChoiceField(
        label="Access",
        choices=Scope.choices,
        initial=Scope.CLUSTER,
        widget=forms.RadioSelect,
    )
    cluster_access = forms.ChoiceField(
        label="Cluster-wide access",
        choices=ClusterAccess.choices,
        initial=ClusterAccess.MANAGE,
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Unknown access level “%(value)s”: choose Manage/Write or Read-only."},
    )
    collections = CollectionRowsField(required=False)
    # A tenant binding (issue 23): optional; no field, no binding.
    tenant_field = forms.CharField(
        label="Tenant field", required=False, max_length=64,
        help_text="Bind the key to one tenant: it sees and changes only points whose payload has this field "
                  "set to the value below (e.g. group_id). Leave empty for a key that is not bound.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "group_id"}))
    tenant_value = forms.CharField(label="Tenant value", required=False, max_length=256,
                                   widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    tenant_type = forms.ChoiceField(label="Value type", choices=TenantType.choices, initial=TenantType.KEYWORD,
                                    required=False)
    tenant_access = forms.ChoiceField(label="Tenant access", choices=CollectionAccess.choices,
                                      initial=CollectionAccess.READ_ONLY, required=False)
    tenant_collections = forms.CharField(
        label="Bound collections", required=False,
        help_text="Comma-separated; empty: every collection of the key. Only a key with access to named "
                  "collections may be bound on some of them.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))

    def __init__(self, *args, cluster, **kwargs):
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        # When a real cluster's nodes cannot list them, the form says so and
        # still takes collection names typed in.
        self.collections_unreadable = ""
        try:
            self.known_collections = runtime_for(cluster).collections(cluster)
        except CollectionsUnreadable as exc:
            self.known_collections, self.collections_unreadable = [], str(exc)
        # A cluster clients reach directly checks its keys itself: the form
        # says up front what such a key cannot have.
        limits = runtime_for(cluster).key_options_refusal(cluster, allowed_networks=True)
        if "allowed_networks" in limits and "allowed_networks" in self.fields:
            self.fields["allowed_networks"].help_text = (
                limits["allowed_networks"] + " Nor is the key's last use recorded: requests do not pass the console.")
        self.tenant_unavailable = runtime_for(cluster).key_options_refusal(
            cluster, allowed_networks=False, tenant=True).get("tenant_field", "")

    def clean(self):
        cleaned = super().clean()
        scope = cleaned.get("scope")
        # Only the chosen tab counts: what was left on the other tab is ignored,
        # so one key never holds both kinds of rule.
        if scope == Scope.CLUSTER:
            self.errors.pop("collections", None)
            if cleaned.get("cluster_access"):
                cleaned["rules"] = [{"collection": None, "access": cleaned["cluster_access"]}]
            elif "cluster_access" not in self.errors:
                self.add_error("cluster_access", "Choose Manage/Write or Read-only.")
        elif scope == Scope.COLLECTIONS:
            self.errors.pop("cluster_access", None)
            if "collections" not in self.errors:
                rules = self._collection_rules(cleaned.get("collections") or [])
                if rules is not None:
                    cleaned["rules"] = rules
        cleaned["tenant"] = None
        if (cleaned.get("tenant_field") or "").strip():
            cleaned["tenant"] = {
                "field": cleaned["tenant_field"].strip(),
                "value": (cleaned.get("tenant_value") or "").strip(),
                "type": cleaned.get("tenant_type") or TenantType.KEYWORD,
                "access": cleaned.get("tenant_access") or CollectionAccess.READ_ONLY,
                "collections": [name.strip() for name in (cleaned.get("tenant_collections") or "").split(",")
                                if name.strip()],
            }
        return cleaned

    def _collection_rules(self, rows: list[tuple[str, str]]) -> list[dict] | None:
        rules, seen = [], set()
        for name, level in rows:
            if not level or not name:
                continue  # a collection left at "No access", or an empty new-collection row
            shown = name if len(name) <= 64 else name[:64] + "…"
            if not COLLECTION_NAME_PATTERN.match(name):
                self.add_error("collections", f"“{shown}”: {COLLECTION_NAME_MESSAGE}")
                return None
            if level not in CollectionAccess.values:
                self.add_error("collections", f"Unknown access level for “{shown}”: choose Read-only or Read-write.")
                return None
            if name in seen:
                self.add_error("collections", f"“{shown}” is chosen twice; give each collection one access level.")
                return None
            seen.add(name)
            rules.append({"collection": name, "access": level})
        if not rules:
            self.add_error("collections", "Choose at least one collection, or give the key cluster-wide access.")
            return None
        if len(rules) > MAX_RULES:
            self.add_error("collections", f"A key has at most {MAX_RULES} collections; this has {len(rules)}.")
            return None
        return rules

    # What the template shows.

    CLUSTER_ACCESS_HELP = {
        ClusterAccess.MANAGE: "Read, write and manage every collection, and the cluster itself.",
        ClusterAccess.READ_ONLY: "Read every collection of the cluster; no writes.",
    }

    def cluster_access_options(self) -> list[dict]:
        chosen = self["cluster_access"].value()
        return [
            {"value": value, "label": label, "help": self.CLUSTER_ACCESS_HELP[value], "checked": value == chosen}
            for value, label in ClusterAccess.choices
        ]

    def collection_rows(self) -> list[dict]:
        """The Collections tab: every known collection, then the new ones typed in."""
        submitted = self["collections"].value() if self.is_bound else ([], [])
        names, levels = submitted if isinstance(submitted, tuple) else ([], [])
        # A forged POST may send lists of different lengths; show what lines up.
        chosen = {str(name).strip(): str(level) for name, level in zip(names, levels, strict=False)}
        rows = [{"name": name, "access": chosen.get(name, ""), "known": True} for name in self.known_collections]
        known = set(self.known_collections)
        rows += [
            {"name": name, "access": level, "known": False}
            for name, level in chosen.items()
            if name and name not in known
        ]
        if not any(not row["known"] for row in rows):
            rows.append({"name": "", "access": CollectionAccess.READ_ONLY.value, "known": False})
        return rows


class RollForm(NonceForm):
    """Rolling a key: when its old secret stops working. The nonce is the new key's."""

    grace = forms.ChoiceField(
        label="The old secret stops working",
        choices=list(ROLL_GRACE_LABELS.items()),
        initial="24h",
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose when the old secret stops working."},
    )

    def __init__(self, *args, held: frozenset[str], **kwargs):
        """`held`: the caller's permissions; a grace they may not choose says what it needs."""
        super().__init__(*args, **kwargs)
        self.held = held
        self.fields["grace"].choices = [
            (value, label if roll_permission(ROLL_GRACE[value]) in held else f"{label} (needs {roll_permission(ROLL_GRACE[value])})")
            for value, label in ROLL_GRACE_LABELS.items()
        ]

    def clean_grace(self):
        grace = self.cleaned_data["grace"]
        needed = roll_permission(ROLL_GRACE[grace])
        if needed not in self.held:
            raise forms.ValidationError(
                f"Stopping the old secret now deletes it, which needs the permission {needed}; your role does not "
                "have it. Pick a later time: the old secret then stops on its own."
            )
        return grace


class KeyFilterForm(forms.Form):
    """A key list's filters and order, from the query string, each optional
    (GitLab's token filters: state, last used before/after a date, never used).
    Field names carry a prefix on the cluster page, which has two lists."""

    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *((s.value, s.label) for s in LISTED_STATES)])
    last_used = forms.ChoiceField(
        required=False, label="Last used",
        choices=[("", "Any time"), ("never", "Never used"), ("ever", "Used"),
                 ("unused", f"Unused for {settings.KEY_UNUSED_DAYS} days")],
    )
    last_used_after = forms.DateField(required=False, label="Used on or after",
                                      widget=forms.DateInput(attrs={"type": "date"}))
    last_used_before = forms.DateField(required=False, label="Used before",
                                       widget=forms.DateInput(attrs={"type": "date"}))
    order = forms.ChoiceField(required=False, label="Sort by", choices=[("", "Newest first"), *KEY_ORDERS.items()])

    def filters(self) -> dict:
        """What the selectors take (apikeys.selectors.filtered_keys): the valid
        values; an invalid one is left out, and `ignored` says so above the list."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value and name not in self.errors}

    def ignored(self) -> list[str]:
        """Each filter value left out, as "State: “bogus” is not one of the choices"."""
        if not self.is_bound:
            return []
        return [f"{self[name].label}: “{str(self.data.get(self.add_prefix(name)))[:60]}” is not "
                f"{'a date' if isinstance(self.fields[name], forms.DateField) else 'one of the choices'}"
                for name in self.errors if name in self.fields]


class AccountKeyFilterForm(KeyFilterForm):
    """The API Keys page's filters: a key list's, and which cluster and kind."""

    cluster = forms.ModelChoiceField(queryset=None, required=False, empty_label="All clusters", to_field_name="id")
    kind = forms.ChoiceField(
        required=False, choices=[("", "All kinds"), ("database", "Database API keys"), ("admin", "Admin keys")]
    )
    field_order = ["cluster", "kind"]

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cluster"].queryset = account.clusters.order_by("name")


class ClusterPickerForm(forms.Form):
    """Which cluster a key from the API Keys page is for."""

    cluster = forms.ModelChoiceField(
        queryset=None, empty_label=None, to_field_name="id", error_messages={"invalid_choice": "Choose a cluster of this account."}
    )

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cluster"].queryset = account.clusters.order_by("name")


class KeyEditForm(forms.Form):
    """Edit a key: its name (the rules of creating one) and its description; never its secret or rules."""

    name = KeyForm.base_fields["name"]
    description = forms.CharField(
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "aria-describedby": "id_description-help"}),
        help_text=f"Optional: what the key is for, at most {DESCRIPTION_MAX_LENGTH} characters.",
        error_messages={"max_length": f"Use at most {DESCRIPTION_MAX_LENGTH} characters (this has %(show_value)d)."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"autocomplete": "off", "aria-describedby": "id_name-help"})

    def full_clean(self):
        super().full_clean()
        # The field at fault says so, and its error is read out with it.
        for field in self.errors:
            if field in self.fields:
                attrs = self.fields[field].widget.attrs
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"id_{field}-help id_{field}-error"


class NeverEchoedTextarea(forms.Textarea):
    """A textarea that never renders what was posted back into the page."""

    def format_value(self, value):
        return None


class ExplainKeyForm(forms.Form):
    key = forms.CharField(
        label="Database API key or admin key",
        max_length=8192,  # far longer than any key the console mints
        strip=True,
        widget=NeverEchoedTextarea(
            attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false", "autocapitalize": "off",
                   "autocorrect": "off", "aria-describedby": "id_key-help", "data-lpignore": "true"}
        ),
        help_text="Paste the key. It is compared with the stored digests of this account's keys, never kept or logged.",
        error_messages={"required": "Paste a key to explain.",
                        "max_length": "This is longer than any key (%(show_value)d characters): paste one key."},
    )

    def full_clean(self):
        super().full_clean()
        if "key" in self.errors:
            self.fields["key"].widget.attrs.update({"aria-invalid": "true", "aria-describedby": "id_key-help id_key-error"})


def _max_days_field(kind_plural: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=f"Longest expiry of new {kind_plural} (days)",
        required=False,
        min_value=1,
        max_value=MAX_EXPIRY_DAYS,
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
        help_text=f"1–{MAX_EXPIRY_DAYS} days; such a key then always needs an expiry. Empty: no limit.",
        error_messages={
            "invalid": "Enter a whole number of days, or leave the field empty for no limit.",
            "min_value": "At least 1 day; leave the field empty for no limit.",
            "max_value": f"At most {MAX_EXPIRY_DAYS} days (10 years); leave the field empty for no limit.",
        },
    )


class KeyPolicyForm(forms.ModelForm):
    """Access Management → Key policy: the account's rules for new keys (apikeys.key_policy)."""

    database_key_max_days = _max_days_field("database API keys")
    admin_key_max_days = _max_days_field("admin keys")
    management_key_max_days = _max_days_field("management keys")

    class Meta:
        model = KeyPolicy
        fields = ["database_key_max_days", "admin_key_max_days", "management_key_max_days", "allow_no_expiry",
                  "manage_keys_need_allowlist", "management_keys_need_allowlist"]
        labels = {
            "allow_no_expiry": "Keys without an expiry are allowed (of kinds without a longest expiry)",
            "manage_keys_need_allowlist": "Keys with manage access need allowed addresses "
                                          "(admin keys, database API keys with cluster-wide Manage/Write)",
            "management_keys_need_allowlist": "Management keys need allowed addresses",
        }

    def full_clean(self):
        super().full_clean()
        for field in self.errors:  # the field at fault says so, its error read out with it
            if field in self.fields:
                self.fields[field].widget.attrs.update(
                    {"aria-invalid": "true", "aria-describedby": f"id_{field}-error"})
