"""The management API: Qdrant Cloud's public API paths, exactly (spec/cloud-api/).

Included under /api/. Path ids are `str`, not `uuid`, so a malformed id gets
the API's own error (INVALID_ARGUMENT) instead of Django's HTML 404.
"""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from api import clusters, database_api_keys, iam, key_edits, management_keys, usage
from api.errors import not_found

app_name = "api"

ACCOUNT = "accounts/<str:account_id>"

urlpatterns = [
    path("schema", SpectacularJSONAPIView.as_view(), name="schema"),
    # The split view serves its init script from `docs?script`, not inline (CSP).
    path(
        "docs",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    # DatabaseApiKeyService (v2)
    path(
        f"cluster/auth/v2/{ACCOUNT}/database-api-keys",
        database_api_keys.DatabaseApiKeyList.as_view(),
        name="database-api-keys",
    ),
    # Extensions: grpc-gateway custom methods on a key, before the key's own path.
    path(
        f"cluster/auth/v2/{ACCOUNT}/database-api-keys/<str:database_api_key_id>:roll",
        database_api_keys.DatabaseApiKeyRoll.as_view(),
        name="database-api-key-roll",
    ),
    path(
        f"cluster/auth/v2/{ACCOUNT}/database-api-keys/<str:database_api_key_id>:disable",
        database_api_keys.DatabaseApiKeyDisable.as_view(),
        name="database-api-key-disable",
    ),
    path(
        f"cluster/auth/v2/{ACCOUNT}/database-api-keys/<str:database_api_key_id>:enable",
        database_api_keys.DatabaseApiKeyEnable.as_view(),
        name="database-api-key-enable",
    ),
    path(
        f"cluster/auth/v2/{ACCOUNT}/database-api-keys/<str:database_api_key_id>:usage",
        usage.DatabaseApiKeyUsage.as_view(),
        name="database-api-key-usage",
    ),
    path(
        f"cluster/auth/v2/{ACCOUNT}/database-api-keys/<str:database_api_key_id>:update",
        key_edits.DatabaseApiKeyUpdate.as_view(),
        name="database-api-key-update",
    ),
    path(
        f"cluster/auth/v2/{ACCOUNT}/database-api-keys/<str:database_api_key_id>",
        database_api_keys.DatabaseApiKeyDetail.as_view(),
        name="database-api-key",
    ),
    # ClusterService (v1)
    path(f"cluster/v1/{ACCOUNT}/clusters", clusters.ClusterList.as_view(), name="clusters"),
    path(f"cluster/v1/{ACCOUNT}/clusters:connect", clusters.ClusterConnect.as_view(), name="clusters-connect"),
    path(f"cluster/v1/{ACCOUNT}/clusters/<str:cluster_id>:usage", usage.ClusterUsage.as_view(), name="cluster-usage"),
    path(f"cluster/v1/{ACCOUNT}/clusters/<str:cluster_id>", clusters.ClusterDetail.as_view(), name="cluster"),
    path(
        f"cluster/v1/{ACCOUNT}/clusters/<str:cluster_id>/enable-jwt",
        clusters.ClusterEnableJwt.as_view(),
        name="cluster-enable-jwt",
    ),
    path(
        f"cluster/v1/{ACCOUNT}/clusters/<str:cluster_id>/restart",
        clusters.ClusterRestart.as_view(),
        name="cluster-restart",
    ),
    # AuthService (v1): management keys
    path(f"auth/v1/{ACCOUNT}/management-keys", management_keys.ManagementKeyList.as_view(), name="management-keys"),
    # Extension (api/key_edits.py), before the Cloud path whose <str:> would take the ":update" in.
    path(
        f"auth/v1/{ACCOUNT}/management-keys/<str:management_key_id>:update",
        key_edits.ManagementKeyUpdate.as_view(),
        name="management-key-update",
    ),
    path(
        f"auth/v1/{ACCOUNT}/management-keys/<str:management_key_id>",
        management_keys.ManagementKeyDetail.as_view(),
        name="management-key",
    ),
    # IAMService (v1)
    path(f"iam/v1/{ACCOUNT}/permissions", iam.PermissionList.as_view(), name="iam-permissions"),
    path(f"iam/v1/{ACCOUNT}/roles", iam.RoleList.as_view(), name="iam-roles"),
    path(f"iam/v1/{ACCOUNT}/roles/<str:role_id>", iam.RoleDetail.as_view(), name="iam-role"),
    path(f"iam/v1/{ACCOUNT}/roles/<str:role_id>/users", iam.RoleUserList.as_view(), name="iam-role-users"),
    path(f"iam/v1/{ACCOUNT}/users", iam.UserList.as_view(), name="iam-users"),
    path(f"iam/v1/{ACCOUNT}/users/<str:user_id>/roles", iam.UserRoleList.as_view(), name="iam-user-roles"),
    path(
        f"iam/v1/{ACCOUNT}/effective-permissions",
        iam.EffectivePermissionList.as_view(),
        name="iam-effective-permissions",
    ),
    # Anything else under /api/: NOT_FOUND in the API's error shape.
    re_path(r"", not_found),
]
