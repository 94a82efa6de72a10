from django.urls import path

from apikeys import views

app_name = "apikeys"

urlpatterns = [
    path("api-keys/", views.account_keys, name="account-list"),
]
