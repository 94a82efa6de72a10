"""Usage series, a console extension (marked `x-console-extension`): a
database API key's requests, or a cluster's, over the last hour, day or 30
days, as the key's and the cluster's pages chart them (apikeys/usage.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from api.base import AccountView, query_param
from api.clusters import _cluster
from api.database_api_keys import _account_key
from api.errors import InvalidArgument
from api.fields import ProtoSerializer
from api.schema import EXTENSION
from apikeys.usage import WINDOWS, usage_series

_MARK = {"x-console-extension": True}
# The outcomes as the API names them.
OUTCOME_FIELDS = {"allowed": "allowed", "401": "unauthorized", "403": "forbidden", "429": "tooManyRequests",
                  "5xx": "failed"}
WINDOW = OpenApiParameter("window", str, enum=list(WINDOWS), extensions=_MARK,
                          description=f"{EXTENSION} hour (1-minute buckets), day (30-minute) or 30d (1-day); day "
                          "when absent.")


class UsageBucket(ProtoSerializer):
    start = serializers.DateTimeField(help_text="The bucket's start (UTC).")
    allowed = serializers.IntegerField()
    unauthorized = serializers.IntegerField(help_text="Refused with 401.")
    forbidden = serializers.IntegerField(help_text="Refused with 403.")
    tooManyRequests = serializers.IntegerField(help_text="Refused with 429.")
    failed = serializers.IntegerField(help_text="Answered with a 5xx.")
    p50Ms = serializers.FloatField(allow_null=True, help_text="Latency p50 at the front (upper bound of its bucket).")
    p99Ms = serializers.FloatField(allow_null=True)


class UsageRefusal(ProtoSerializer):
    outcome = serializers.CharField(help_text="401, 403, 429 or 5xx.")
    reason = serializers.CharField(help_text="Qdrant's message.")
    count = serializers.IntegerField()


class UsageTopKey(ProtoSerializer):
    id = serializers.CharField()
    kind = serializers.CharField(help_text="database or admin.")
    name = serializers.CharField()
    count = serializers.IntegerField()


@extend_schema_serializer(component_name="ConsoleUsageSeries")
class UsageSeries(ProtoSerializer):
    window = serializers.CharField()
    stepSeconds = serializers.IntegerField()
    total = serializers.IntegerField()
    buckets = UsageBucket(many=True)
    refusals = UsageRefusal(many=True)
    topKeys = UsageTopKey(many=True, required=False, help_text="A cluster's ten busiest keys.")


def _window(request) -> str:
    window = query_param(request, "window") or "day"
    if window not in WINDOWS:
        raise InvalidArgument(f"window: one of {', '.join(WINDOWS)}; got {window!r}.")
    return window


def _out(series: dict) -> dict:
    out = {
        "window": series["window"], "stepSeconds": series["step_seconds"], "total": series["total"],
        "buckets": [
            {"start": datetime.fromtimestamp(start, UTC).isoformat().replace("+00:00", "Z"),
             **{OUTCOME_FIELDS[name]: series["outcomes"][name][index] for name in OUTCOME_FIELDS},
             "p50Ms": series["p50_ms"][index], "p99Ms": series["p99_ms"][index]}
            for index, start in enumerate(series["starts"])
        ],
        "refusals": series["refusals"],
    }
    if "top_keys" in series:
        out["topKeys"] = [{"id": top["id"], "kind": top["kind"], "name": top["name"], "count": top["count"]}
                          for top in series["top_keys"]]
    return out


class DatabaseApiKeyUsage(AccountView):
    permissions = {"GET": "read:api_keys"}

    @extend_schema(
        operation_id="DatabaseApiKeyService_GetDatabaseApiKeyUsage",
        summary="A database api key's requests over the last hour, day or 30 days, by outcome, with latency and refusals.",
        description=f"{EXTENSION}\n\nRequired permissions:\n- read:api_keys\n\nCounted by the fronts per minute and "
        "reported with last use: the last minute or so may not be in yet.",
        tags=["DatabaseApiKeyService"], parameters=[WINDOW], responses=UsageSeries, extensions=_MARK,
    )
    def get(self, request, account_id, database_api_key_id):
        key = _account_key(self, request, database_api_key_id)
        return Response(_out(usage_series(key=key, window=_window(request))))


class ClusterUsage(AccountView):
    permissions = {"GET": "read:api_keys"}

    @extend_schema(
        operation_id="ClusterService_GetClusterUsage",
        summary="A cluster's requests over the last hour, day or 30 days, by outcome, with latency, refusals and top keys.",
        description=f"{EXTENSION}\n\nRequired permissions:\n- read:api_keys\n\nEvery key of the cluster, counted as "
        "for GetDatabaseApiKeyUsage.",
        tags=["ClusterService"], parameters=[WINDOW], responses=UsageSeries, extensions=_MARK,
    )
    def get(self, request, account_id, cluster_id):
        cluster = _cluster(self, cluster_id)
        return Response(_out(usage_series(cluster=cluster, window=_window(request))))
