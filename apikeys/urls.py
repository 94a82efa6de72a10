from django.urls import path

from apikeys import views

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
    path("clusters/<uuid:cluster_id>/api-keys/<uuid:key_id>/", views.key_detail, name="detail"),
    path("clusters/<uuid:cluster_id>/api-keys/<uuid:key_id>/edit/", views.key_edit_view, name="edit"),
    path("clusters/<uuid:cluster_id>/api-keys/<uuid:key_id>/delete/", views.key_delete, name="delete"),
    path("clusters/<uuid:cluster_id>/api-keys/<uuid:key_id>/roll/", views.key_roll_view, name="roll"),
    path("clusters/<uuid:cluster_id>/api-keys/<uuid:key_id>/disable/", views.key_disable_view, name="disable"),
    path("clusters/<uuid:cluster_id>/api-keys/<uuid:key_id>/enable/", views.key_enable_view, name="enable"),
    path("clusters/<uuid:cluster_id>/admin-keys/create/", views.admin_create, name="admin-create"),
    path("clusters/<uuid:cluster_id>/admin-keys/<uuid:admin_key_id>/", views.admin_detail, name="admin-detail"),
    path("clusters/<uuid:cluster_id>/admin-keys/<uuid:admin_key_id>/edit/", views.admin_edit, name="admin-edit"),
    path(
        "clusters/<uuid:cluster_id>/admin-keys/<uuid:admin_key_id>/delete/", views.admin_delete, name="admin-delete"
    ),
    path("clusters/<uuid:cluster_id>/admin-keys/<uuid:admin_key_id>/roll/", views.admin_roll, name="admin-roll"),
    path(
        "clusters/<uuid:cluster_id>/admin-keys/<uuid:admin_key_id>/disable/", views.admin_disable, name="admin-disable"
    ),
    path("clusters/<uuid:cluster_id>/admin-keys/<uuid:admin_key_id>/enable/", views.admin_enable, name="admin-enable"),
]
