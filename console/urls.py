from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import LogoutView, dashboard, invitation

account_urls = [
    path("clusters/", include("clusters.urls")),
    path("access/", include("accounts.urls")),
    path("access/audit-log/", include("audit.urls")),
    path("access/management-keys/", include("managementkeys.urls")),
    path("", include("apikeys.urls")),
]

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("accounts/<uuid:account_id>/", include(account_urls)),
    # Public: the link in an invitation email (its secret rides in the fragment).
    path("invitations/<uuid:invitation_id>/", invitation, name="invitation"),
    path("api/", include("api.urls")),
]
