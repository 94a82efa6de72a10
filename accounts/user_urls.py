from django.urls import path

from accounts import user_views

# Included under me/: the signed-in user's own pages, in no account.
urlpatterns = [
    path("", user_views.profile, name="profile"),
    path("accounts/new/", user_views.account_create_view, name="account-create"),
    path("sessions/", user_views.session_list, name="sessions"),
    path("sessions/<str:ref>/end/", user_views.session_end_view, name="session-end"),
]
