from django.urls import path

from apikeys import views
from apikeys.policy import ADMIN, DATABASE

app_name = "apikeys"

# Included under accounts/<uuid:account_id>/. A cluster's keys are listed on
# its page (clusters:detail): database API keys under #api-keys, the admin
# keys of a legacy cluster under #admin-keys.
urlpatterns = [
    path("api-keys/", views.account_keys_list, name="account-list"),
    path("api-keys/create/", views.account_key_create, name="account-create"),
    path("api-keys/explain/", views.account_key_explain, name="account-explain"),
    path("access/key-policy/", views.key_policy, name="key-policy"),
    path("clusters/<uuid:cluster_id>/api-keys/create/", views.key_create, name="create"),
    path("clusters/<uuid:cluster_id>/admin-keys/create/", views.admin_create, name="admin-create"),
]

# A key's page and what can be done to it, the same views for both kinds: database
# API keys under api-keys/ (names "detail", "edit", ...), admin keys under
# admin-keys/ ("admin-detail", ...); IssuedKey._url builds them.
for kind, prefix, name_prefix in ((DATABASE, "api-keys", ""), (ADMIN, "admin-keys", "admin-")):
    key_url = f"clusters/<uuid:cluster_id>/{prefix}/<uuid:key_id>/"
    urlpatterns += [
        path(key_url, views.key_detail, {"kind": kind}, name=f"{name_prefix}detail"),
        path(f"{key_url}edit/", views.key_edit_view, {"kind": kind}, name=f"{name_prefix}edit"),
        path(f"{key_url}delete/", views.key_delete_view, {"kind": kind}, name=f"{name_prefix}delete"),
        path(f"{key_url}roll/", views.key_roll_view, {"kind": kind}, name=f"{name_prefix}roll"),
        path(f"{key_url}disable/", views.key_disable_view, {"kind": kind}, name=f"{name_prefix}disable"),
        path(f"{key_url}enable/", views.key_enable_view, {"kind": kind}, name=f"{name_prefix}enable"),
    ]
