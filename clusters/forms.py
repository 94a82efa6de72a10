import re

from django import forms

from clusters import catalog
from clusters.models import MAX_NODES, Access, Cluster


def _new_cluster_name(account, name: str) -> str:
    name = name.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise forms.ValidationError(
            "Use only letters A–Z and a–z (no accented letters or other alphabets), digits, "
            "underscores (_) and dashes (-); no spaces."
        )
    Cluster._meta.get_field("name").run_validators(name)
    if Cluster.objects.filter(account=account, name=name).exists():
        raise forms.ValidationError("A cluster with this name already exists in this account.")
    return name


class ClusterCreateForm(forms.Form):
    name = forms.CharField(
        max_length=64,
        # The rule of clusters.models.cluster_name_validator, stated exactly (issue 14):
        # unlike a key name, no spaces and no minimum beyond one character.
        help_text="1–64 characters: letters A–Z and a–z, digits, underscores (_) and dashes (-); "
        "no spaces. Unique in this account.",
        error_messages={"max_length": "Use at most 64 characters (this has %(show_value)d)."},
    )
    version = forms.ChoiceField(choices=[(v, v) for v in catalog.VERSIONS])
    number_of_nodes = forms.IntegerField(label="Nodes", min_value=1, max_value=MAX_NODES, initial=1)

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        # Not a cloud region to choose: the nodes run here.
        self.fields["number_of_nodes"].help_text = (
            f"Its nodes run on this console's host, {catalog.this_host()} (listed as Hybrid · {catalog.this_host()}).")

    def clean_name(self) -> str:
        return _new_cluster_name(self.account, self.cleaned_data["name"])


class ClusterDeleteForm(forms.Form):
    name = forms.CharField(label="Type the cluster's name to confirm", max_length=64)

    def __init__(self, *args, cluster, **kwargs):
        super().__init__(*args, **kwargs)
        self.cluster = cluster

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if name != self.cluster.name:
            raise forms.ValidationError("That is not this cluster's name.")
        return name


class ClusterConnectForm(forms.Form):
    """Connect an existing Qdrant (clusters/connected.py checks it before saving)."""

    name = ClusterCreateForm.base_fields["name"]
    # A CharField: Docker and Kubernetes service names (http://qdrant:6333)
    # are not URLs to Django's URLValidator; runtimes.connected.probe checks it.
    url = forms.CharField(label="URL", max_length=255,
                         help_text="Its REST URL: a load-balanced URL or one node's, e.g. https://qdrant.example.com:6333.")
    api_key = forms.CharField(label="Master key", widget=forms.PasswordInput, strip=False,
                              help_text="The cluster's service.api_key. Stored encrypted; never shown again.")
    grpc_port = forms.IntegerField(label="gRPC port", min_value=1, max_value=65535, initial=6334, required=False,
                                   help_text="The port it serves gRPC on at the URL's host (Qdrant's default: 6334).")
    ca_certificate = forms.CharField(label="CA certificate (PEM)", required=False, widget=forms.Textarea(attrs={"rows": 4}),
                                     help_text="Only if its TLS certificate is signed by your own CA.")
    access = forms.ChoiceField(label="How clients reach it", choices=Access.choices, widget=forms.RadioSelect,
                               initial=Access.THROUGH_FRONT,
                               help_text="Through the front: the cluster's endpoint is this console's front, and "
                               "every feature works. Directly: clients use the cluster's own URL; keys are revoked "
                               "by the cluster itself, but per-key IP allowlists and \"last used\" are not available.")

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_name(self) -> str:
        return _new_cluster_name(self.account, self.cleaned_data["name"])


class MasterKeyForm(forms.Form):
    api_key = forms.CharField(label="New master key", widget=forms.PasswordInput, strip=False,
                              help_text="The service.api_key the cluster runs with now. Checked before it is saved.")
