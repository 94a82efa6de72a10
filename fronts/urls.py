from django.urls import path

from fronts import views

# Under /contract/v1/ (keyset/wire.py names the same paths).
urlpatterns = [
    path("snapshot", views.snapshot),
    path("changes", views.changes),
    path("ack", views.ack),
    path("last-used", views.last_used),
    path("claim", views.claim),
    path("collections", views.collections),
]

# Under /operators/fronts/: the operators' page (Django staff users).
pages = ([
    path("", views.front_list, name="list"),
    path("<uuid:front_id>/revoke/", views.front_revoke, name="revoke"),
], "fronts")
