from django.urls import path

from managementkeys import views

app_name = "managementkeys"

# Included under accounts/<uuid:account_id>/access/management-keys/.
urlpatterns = [
    path("", views.key_list, name="list"),
    path("create/", views.key_create, name="create"),
    path("<uuid:management_key_id>/rename/", views.key_rename, name="rename"),
    path("<uuid:management_key_id>/delete/", views.key_delete, name="delete"),
]
