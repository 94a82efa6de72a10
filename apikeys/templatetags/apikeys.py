"""The API Keys section of a cluster's page (templates/apikeys/cluster_section.html).

The cluster page's view belongs to the clusters app; the section fetches its
own keys here so that app need not know about API keys.
"""

from django import template

from accounts.access import can
from apikeys.forms import KeyFilterForm
from apikeys.key_policy import key_breaches, policy_of
from apikeys.policy import ADMIN, DATABASE, create_offer, may_create
from apikeys.selectors import cluster_admin_keys, cluster_keys, expiring_keys, keys_page
from apikeys.snippets import snippets_for
from apikeys.usage import WINDOWS, usage_series, usage_table

register = template.Library()


@register.simple_tag(takes_context=True)
def cluster_api_keys(context) -> dict:
    """One page of the cluster's keys (`?keys_page=N`) in two queries, and what the caller may do.

    A legacy cluster adds its admin keys (`?admin_keys_page=N`): while granular
    access is off, and afterwards as long as some are left. A cluster created
    since granular keys exist never has any, and costs no query for them.
    """
    request, cluster = context["request"], context["cluster"]
    may_read = can(request, "read:api_keys")
    # Both lists answer to one filter form (state, last used, order).
    form = KeyFilterForm(request.GET if any(name in request.GET for name in KeyFilterForm.base_fields) else None)
    filters = form.filters()
    return {
        "may_read": may_read,
        "may_create": may_create(request, DATABASE, cluster),
        "form": form,
        "filtered": bool(filters),
        "ignored": form.ignored(),
        "page": keys_page(cluster_keys(cluster, **filters), request.GET.get("keys_page")) if may_read else None,
        "admin": _admin_keys(request, cluster, filters) if may_read and cluster.is_legacy else None,
        "snippets": snippets_for(cluster, None),
    }


def _admin_keys(request, cluster, filters: dict) -> dict | None:
    page = keys_page(cluster_admin_keys(cluster, **filters), request.GET.get("admin_keys_page"))
    if cluster.jwt_rbac and not page.paginator.count and not filters:
        return None  # enabled, and the last admin key is gone: nothing left to show
    offered, refusal = create_offer(request, ADMIN, cluster)
    return {"page": page, "refusal": refusal, "may_create": offered}


@register.simple_tag(takes_context=True)
def may_create_key(context, kind: str, cluster=None) -> bool:
    """`{% may_create_key "management" as may %}`: the Create buttons ask apikeys.policy."""
    return may_create(context["request"], kind, cluster)


@register.inclusion_tag("apikeys/_expiry_banner.html", takes_context=True)
def expiring_keys_banner(context) -> dict:
    """The cluster page's banner: its live keys that expire within the first reminder's window."""
    request, cluster = context["request"], context["cluster"]
    if not can(request, "read:api_keys"):
        return {"keys": []}
    return {"keys": expiring_keys(cluster)}


@register.simple_tag(takes_context=True)
def policy_breaches(context, key) -> list[str]:
    """`{% policy_breaches key as broken %}`: the rules of the account's key policy
    an existing key breaks, for its badge; the policy is read once per request."""
    account = context.get("account")
    if account is None:
        return []
    cache = context["request"].__dict__.setdefault("_key_policies", {})
    if account.pk not in cache:
        cache[account.pk] = policy_of(account)
    return key_breaches(cache[account.pk], key)


@register.inclusion_tag("apikeys/_usage.html", takes_context=True)
def usage_section(context, key=None) -> dict:
    """A key's requests (or, without `key`, the cluster's) over the window in
    `?usage=` (hour, day, 30d; day by default): the chart, its table, the refusals."""
    request, cluster = context["request"], context["cluster"]
    window = request.GET.get("usage")
    window = window if window in WINDOWS else "day"
    series = usage_series(key=key, cluster=None if key is not None else cluster, window=window)
    return {"series": series, "rows": usage_table(series), "windows": WINDOW_NAMES, "window": window,
            "window_label": WINDOW_NAMES[window],
            "key": key, "cluster": cluster, "labels": list(series["labels"].values())}


WINDOW_NAMES = {"hour": "hour", "day": "day", "30d": "30 days"}
