from django.urls import path

from fronts import views

# Under /contract/v1/ (keyset/wire.py names the same paths).
urlpatterns = [
    path("snapshot", views.snapshot),
    path("changes", views.changes),
    path("ack", views.ack),
    path("last-used", views.last_used),
]
