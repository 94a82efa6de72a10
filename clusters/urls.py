from django.urls import path

from clusters import views

app_name = "clusters"

urlpatterns = [
    path("", views.cluster_list, name="list"),
    path("create/", views.cluster_new, name="create"),
    path("connect/", views.cluster_connect_view, name="connect"),
    path("<uuid:cluster_id>/", views.cluster_detail, name="detail"),
    path("<uuid:cluster_id>/status/", views.cluster_status_json, name="status"),
    path("<uuid:cluster_id>/enable-granular-access/", views.cluster_enable_granular, name="enable-granular"),
    path("<uuid:cluster_id>/restart/", views.cluster_restart, name="restart"),
    path("<uuid:cluster_id>/master-key/", views.cluster_master_key, name="master-key"),
    path("<uuid:cluster_id>/delete/", views.cluster_delete_view, name="delete"),
]
