"""ClusterService v1 (cluster.v1.swagger.json): list, get, create, delete, enable-jwt, restart.

Extensions to Cloud's fields, documented in the schema: `configuration.runtime`
(`embedded` or `qdrant`, fixed at creation). Every cluster's `cloudProviderId` is
`hybrid` and its `cloudProviderRegionId` the host it runs on
(docs/concepts/connected-clusters.md, "Where a cluster runs"). `state.version` and each node's
`version` are what the nodes report (`GET /` of a node), not a catalog value.

enable-jwt and restart start the same rolling-restart operation as the
console's buttons (clusters/restarts.py); the response comes back at once and
the cluster's phase shows the restart (CLUSTER_PHASE_UPDATING, then HEALTHY).
A node of a `qdrant` cluster down outside any operation makes it
CLUSTER_PHASE_NOT_READY, its reason naming the node, until every node is
ready again (clusters/nodes.py).
"""

import base64
import binascii

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from api.base import AccountView, parse_uuid, query_param
from api.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, validation_message
from api.fields import EnumField, ProtoSerializer, TimestampField
from api.schema import EMPTY, EXTENSION
from audit.services import client_ip
from clusters import catalog
from clusters.connected import cluster_connect
from clusters.forms import ClusterConnectForm, ClusterCreateForm
from clusters.models import MAX_NODES, Access, ClusterNode, NodeState, Phase, Runtime
from clusters.runtime import runtime_for
from clusters.restarts import cluster_restart_start, granular_access_enable
from clusters.selectors import clusters_of
from clusters.services import cluster_create, cluster_delete
from managementkeys.scope import create_cluster_refusal

TAG = "ClusterService"

PHASE_NAMES = ["CLUSTER_PHASE_UNSPECIFIED"] + [f"CLUSTER_PHASE_{phase}" for phase in Phase.values]
PHASES = {f"CLUSTER_PHASE_{phase}": phase for phase in Phase.values}
NODE_STATE_NAMES = ["CLUSTER_NODE_STATE_UNSPECIFIED"] + [f"CLUSTER_NODE_STATE_{state}" for state in NodeState.values]
NODE_STATES = {f"CLUSTER_NODE_STATE_{state}": state for state in NodeState.values}


@extend_schema_serializer(component_name="v1ClusterEndpoint")
class ClusterEndpoint(ProtoSerializer):
    url = serializers.CharField(source="endpoint_url")
    restPort = serializers.IntegerField(source="rest_port")
    grpcPort = serializers.IntegerField(source="grpc_port")


@extend_schema_serializer(component_name="v1ClusterNodeInfo")
class ClusterNodeInfo(ProtoSerializer):
    name = serializers.CharField()
    startedAt = TimestampField(source="started_at", required=False)
    version = serializers.SerializerMethodField()
    state = EnumField(NODE_STATE_NAMES, NODE_STATES)

    def get_version(self, node) -> str:
        return runtime_for(node.cluster).version(node.cluster, [node])


@extend_schema_serializer(component_name="v1ClusterState")
class ClusterState(ProtoSerializer):
    version = serializers.SerializerMethodField()
    nodesUp = serializers.IntegerField(source="nodes_up")
    restartedAt = TimestampField(source="restarted_at", required=False)
    phase = EnumField(PHASE_NAMES, PHASES)
    reason = serializers.CharField()
    endpoint = ClusterEndpoint(source="*")
    nodes = ClusterNodeInfo(source="nodes.all", many=True)
    jwtRbac = serializers.BooleanField(source="jwt_rbac")

    def get_version(self, cluster) -> str:
        return runtime_for(cluster).version(cluster, list(cluster.nodes.all()))


class _AbsentWhenBlank(serializers.CharField):
    """A field only some clusters have: left out (ProtoSerializer drops None) where it is blank."""

    def to_representation(self, value):
        return value or None


@extend_schema_serializer(component_name="v1ClusterConfiguration")
class ClusterConfiguration(ProtoSerializer):
    numberOfNodes = serializers.IntegerField(source="number_of_nodes", min_value=1, max_value=MAX_NODES)
    version = serializers.ChoiceField(choices=catalog.VERSIONS, required=False)
    runtime = serializers.ChoiceField(
        choices=Runtime.values,
        read_only=True,
        help_text="Extension: what runs the nodes, fixed at creation: `qdrant` (real Qdrant processes, when the "
        "console has a Qdrant binary), `embedded` (the data plane's own engine) or `connected` (a Qdrant the team "
        "runs elsewhere, ClusterService_ConnectCluster).",
    )
    connectedUrl = _AbsentWhenBlank(
        source="url", required=False,
        help_text="Extension: the URL a connected cluster was connected with; absent for the others.")
    access = _AbsentWhenBlank(
        required=False,
        help_text="Extension: how clients reach a connected cluster (ACCESS_THROUGH_FRONT, ACCESS_DIRECT); "
        "absent for the others.")


@extend_schema_serializer(component_name="v1Cluster")
class ClusterOut(ProtoSerializer):
    id = serializers.UUIDField()
    createdAt = TimestampField(source="created_at")
    accountId = serializers.UUIDField(source="account_id")
    name = serializers.CharField()
    cloudProviderId = serializers.CharField(source="cloud_provider")
    cloudProviderRegionId = serializers.CharField(source="region")
    configuration = ClusterConfiguration(source="*")
    state = ClusterState(source="*")


@extend_schema_serializer(component_name="v1ListClustersResponse")
class ListClustersResponse(ProtoSerializer):
    items = ClusterOut(many=True)
    totalSize = serializers.IntegerField()
    nextPageToken = serializers.CharField(required=False)


@extend_schema_serializer(component_name="v1GetClusterResponse")
class GetClusterResponse(ProtoSerializer):
    cluster = ClusterOut()


@extend_schema_serializer(component_name="v1CreateClusterResponse")
class CreateClusterResponse(ProtoSerializer):
    cluster = ClusterOut()


class ClusterIn(ProtoSerializer):
    name = serializers.CharField(max_length=64)
    cloudProviderId = serializers.CharField(
        max_length=16, required=False,
        help_text='The console runs a cluster\'s nodes on its own host, in no cloud region: "hybrid", or leave it '
        "out.")
    cloudProviderRegionId = serializers.CharField(
        max_length=32, required=False,
        help_text="The environment, this console's host name (the `cloudProviderRegionId` of its clusters), or "
        "leave it out.")
    configuration = ClusterConfiguration()

    def validate(self, data):
        # A Cloud client names a provider and region; this console has one
        # place to put nodes, and says so rather than pretend it used another.
        host = catalog.this_host()
        where = {"cloudProviderId": (data.get("cloudProviderId"), catalog.HYBRID),
                 "cloudProviderRegionId": (data.get("cloudProviderRegionId"), host)}
        for field, (given, only) in where.items():
            if given not in (None, "", only):
                raise serializers.ValidationError({field: f"This console runs clusters on its own host, in no cloud "
                                                          f"region: use \"{only}\" or leave it out."})
        return data


@extend_schema_serializer(component_name="ClusterServiceCreateClusterBody")
class CreateClusterBody(ProtoSerializer):
    cluster = ClusterIn()


def _clusters(account):
    nodes = ClusterNode.objects.select_related("cluster")
    return clusters_of(account).prefetch_related(Prefetch("nodes", queryset=nodes))


def _cluster(view: AccountView, cluster_id: str):
    """The account's cluster, if the request may touch it (a management key may be limited to some)."""
    cluster = _clusters(view.account).filter(id=parse_uuid(cluster_id, "clusterId")).first()
    if cluster is None:
        raise NotFound("clusterId: no cluster with this id in the account.")
    view.check_cluster(cluster.id)
    return cluster


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str) -> int:
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii").partition(":")
        if kind == "offset" and number.isdigit() and int(number) < 2**31:
            return int(number)
    except (ValueError, binascii.Error, UnicodeError):
        pass
    raise InvalidArgument("pageToken: not a token this API returned.")


def _page_size(value: str | None) -> int:
    if value is None or value == "":
        return 0
    try:
        size = int(value)
    except ValueError:
        raise InvalidArgument("pageSize: must be a whole number.") from None
    if not 0 <= size <= 2**31 - 1:
        raise InvalidArgument("pageSize: must be between 0 and 2147483647.")
    return size


def _same_account(cluster: dict, account) -> None:
    """The path names the account (`cluster.accountId`, out of the body in cluster.v1's
    schema); a client that sends the whole cluster, accountId included, must name the same."""
    named = cluster.get("accountId")
    if named is not None and str(named).lower() != str(account.id):
        raise InvalidArgument(f"cluster.accountId: {str(named)[:60]} differs from the account in the path, "
                              f"{account.id}; leave it out or make them the same.")


class ClusterList(AccountView):
    permissions = {"GET": "read:clusters", "POST": "write:clusters"}

    @extend_schema(
        operation_id="ClusterService_ListClusters",
        summary="Lists all clusters in the account identified by the given ID.",
        description="Required permissions:\n- read:clusters",
        tags=[TAG],
        parameters=[
            OpenApiParameter("cloudProviderId", str, description="Only clusters of this cloud provider."),
            OpenApiParameter("cloudProviderRegionId", str, description="Only clusters in this region."),
            OpenApiParameter(
                "pageSize",
                {"type": "integer", "format": "int32", "minimum": 0},
                description="At most this many clusters; 0 or unset for all.",
            ),
            OpenApiParameter("pageToken", str, description="The `nextPageToken` of the previous page."),
        ],
        responses=ListClustersResponse,
    )
    def get(self, request, account_id):
        clusters = _clusters(self.account).filter(**self.cluster_scope())
        if (provider := query_param(request, "cloudProviderId")) is not None:
            clusters = clusters.filter(cloud_provider=provider)
        if (region := query_param(request, "cloudProviderRegionId")) is not None:
            clusters = clusters.filter(region=region)
        size = _page_size(query_param(request, "pageSize"))
        token = query_param(request, "pageToken")
        offset = _offset(token) if token else 0
        total = clusters.count()
        page = clusters[offset : offset + size] if size else clusters[offset:]
        body = {"items": ClusterOut(page, many=True).data, "totalSize": total}
        if size and offset + size < total:
            body["nextPageToken"] = _page_token(offset + size)
        return Response(body)

    @extend_schema(
        operation_id="ClusterService_CreateCluster",
        summary="Creates a cluster in the account identified by the given ID.",
        description="Required permissions:\n- write:clusters\n\nThe cluster comes back in "
        "CLUSTER_PHASE_CREATING; it is HEALTHY once every node is ready and joined. Its runtime "
        "(`configuration.runtime`) is the console's: `qdrant` when it has a Qdrant binary, else `embedded`.",
        tags=[TAG],
        request=CreateClusterBody,
        responses=CreateClusterResponse,
    )
    def post(self, request, account_id):
        refusal = create_cluster_refusal(self.key)
        if refusal:
            raise PermissionDenied(refusal)
        body = CreateClusterBody(data=request.data)
        if not body.is_valid():
            raise InvalidArgument(validation_message(body.errors))
        _same_account(request.data["cluster"], self.account)
        data = body.validated_data["cluster"]
        form = ClusterCreateForm(
            {
                "name": data["name"],
                "version": data["configuration"].get("version") or catalog.VERSIONS[0],
                "number_of_nodes": data["configuration"]["number_of_nodes"],
            },
            account=self.account,
        )
        if not form.is_valid():
            errors = form.errors.as_data()
            if any(e.message.startswith("A cluster with this name") for e in errors.get("name", [])):
                raise AlreadyExists("cluster.name: a cluster with this name already exists in this account.")
            fields = {"name": "name", "version": "configuration.version", "number_of_nodes": "configuration.numberOfNodes"}
            raise InvalidArgument(
                validation_message({fields.get(f, f): [m for e in es for m in e.messages] for f, es in errors.items()},
                                   "cluster")
            )
        cluster = cluster_create(account=self.account, **form.cleaned_data, by=request.user, client_ip=client_ip(request))
        return Response({"cluster": ClusterOut(_cluster(self, str(cluster.id))).data})


@extend_schema_serializer(component_name="ClusterServiceConnectClusterBody")
class ConnectClusterBody(ProtoSerializer):
    name = serializers.CharField(max_length=64)
    url = serializers.CharField(max_length=255)
    apiKey = serializers.CharField(max_length=4096, trim_whitespace=False)
    grpcPort = serializers.IntegerField(required=False, min_value=1, max_value=65535,
                                       help_text="The port the cluster serves gRPC on at the URL's host; 6334 if not given.")
    caCertificate = serializers.CharField(required=False, allow_blank=True, max_length=65536)
    access = serializers.ChoiceField(choices=Access.values)


class ClusterConnect(AccountView):
    permissions = {"POST": "write:clusters"}
    _FIELDS = {"name": "name", "url": "url", "api_key": "apiKey", "ca_certificate": "caCertificate",
               "grpc_port": "grpcPort", "access": "access"}

    @extend_schema(
        operation_id="ClusterService_ConnectCluster",
        summary="Extension: connects a Qdrant cluster the team already runs.",
        description=f"{EXTENSION}\n\nRequired permissions:\n- write:clusters\n\nThe cluster is "
        "checked first (reachable, TLS trusted, master key accepted, version, peers, jwt_rbac); a failure is "
        "INVALID_ARGUMENT naming the field, and nothing is saved. It comes back HEALTHY with "
        "`cloudProviderId` \"hybrid\" and `configuration.runtime` \"connected\".",
        tags=[TAG],
        request=ConnectClusterBody,
        responses=CreateClusterResponse,
        extensions={"x-console-extension": True},
    )
    def post(self, request, account_id):
        refusal = create_cluster_refusal(self.key)  # a key limited to some clusters adds none
        if refusal:
            raise PermissionDenied(refusal)
        body = ConnectClusterBody(data=request.data)
        if not body.is_valid():
            raise InvalidArgument(validation_message(body.errors))
        data = body.validated_data
        form = ClusterConnectForm({"name": data["name"], "url": data["url"], "api_key": data["apiKey"],
                                   "ca_certificate": data.get("caCertificate", ""), "access": data["access"],
                                   "grpc_port": data.get("grpcPort")},
                                  account=self.account)
        if not form.is_valid():
            errors = form.errors.as_data()
            if any(e.message.startswith("A cluster with this name") for e in errors.get("name", [])):
                raise AlreadyExists("name: a cluster with this name already exists in this account.")
            raise InvalidArgument(validation_message(
                {self._FIELDS.get(f, f): [m for e in es for m in e.messages] for f, es in errors.items()}))
        try:
            cluster = cluster_connect(account=self.account, **form.cleaned_data, by=request.user,
                                      client_ip=client_ip(request))
        except ValidationError as exc:
            raise InvalidArgument(validation_message(
                {self._FIELDS.get(f, f): m for f, m in exc.message_dict.items()})) from None
        return Response({"cluster": ClusterOut(_cluster(self, str(cluster.id))).data})


class ClusterDetail(AccountView):
    permissions = {"GET": "read:clusters", "DELETE": "delete:clusters"}

    @extend_schema(
        operation_id="ClusterService_GetCluster",
        summary="Gets a cluster in the account identified by the given ID.",
        description="Required permissions:\n- read:clusters",
        tags=[TAG],
        responses=GetClusterResponse,
    )
    def get(self, request, account_id, cluster_id):
        return Response({"cluster": ClusterOut(_cluster(self, cluster_id)).data})

    @extend_schema(
        operation_id="ClusterService_DeleteCluster",
        summary="Deletes a cluster in the account identified by the given ID.",
        description="Required permissions:\n- delete:clusters\n\nIts keys stop working at once; the cluster "
        "shows CLUSTER_PHASE_DELETING while its nodes stop and their storage is removed, then it is gone "
        "(NOT_FOUND). `deleteBackups` and `force` are accepted and have nothing to act on here.",
        tags=[TAG],
        parameters=[
            OpenApiParameter("deleteBackups", bool, description="Accepted; this console keeps no backups."),
            OpenApiParameter("force", bool, description="Accepted; ignored, as for managed cloud clusters."),
        ],
        request=None,
        responses={200: EMPTY},
    )
    def delete(self, request, account_id, cluster_id):
        cluster = _cluster(self, cluster_id)
        cluster_delete(cluster=cluster, by=request.user, client_ip=client_ip(request))
        return Response({})


class ClusterEnableJwt(AccountView):
    permissions = {"POST": "write:clusters"}

    @extend_schema(
        operation_id="ClusterService_EnableClusterJwtRbac",
        summary="Enables JWT RBAC (granular database API keys) on the cluster with a rolling restart.",
        description="Required permissions:\n- write:clusters\n\nIdempotent: on a cluster that has it already, "
        "or is enabling it, nothing more happens.",
        tags=[TAG],
        request=None,
        responses={200: EMPTY},
    )
    def post(self, request, account_id, cluster_id):
        cluster = _cluster(self, cluster_id)
        if cluster.jwt_rbac:
            return Response({})
        try:
            granular_access_enable(cluster=cluster, by=request.user, client_ip=client_ip(request))
        except ValidationError as error:
            cluster.refresh_from_db(fields=["jwt_rbac"])
            if cluster.jwt_rbac:
                return Response({})  # enabled meanwhile, by another request
            raise FailedPrecondition(f"clusterId: {' '.join(error.messages)}") from None
        return Response({})


class ClusterRestart(AccountView):
    permissions = {"POST": "write:clusters"}

    @extend_schema(
        operation_id="ClusterService_RestartCluster",
        summary="Restarts a cluster in the account identified by the given ID (a rolling restart).",
        description="Required permissions:\n- write:clusters\n\nA restart requested while one runs joins it.",
        tags=[TAG],
        request=None,
        responses={200: EMPTY},
    )
    def post(self, request, account_id, cluster_id):
        cluster = _cluster(self, cluster_id)
        try:
            cluster_restart_start(cluster=cluster, by=request.user, client_ip=client_ip(request))
        except ValidationError as error:
            raise FailedPrecondition(f"clusterId: {' '.join(error.messages)}") from None
        return Response({})
