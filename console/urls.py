from django.urls import include, path

from accounts.views import LoginView, LogoutView, dashboard, invitation
from console.metrics import metrics
from fronts.urls import pages as fronts_pages

account_urls = [
    path("clusters/", include("clusters.urls")),
    path("access/", include("accounts.urls")),
    path("access/audit-log/", include("audit.urls")),
    path("access/management-keys/", include("managementkeys.urls")),
    path("", include("apikeys.urls")),
]

urlpatterns = [
    path("", dashboard, name="dashboard"),
    # django-allauth's login (password, then a second factor if the user has
    # one), at the address the console always had.
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    # Sign-up, email verification, password change and reset, second factors,
    # re-authentication, single sign-on and sessions (django-allauth).
    path("auth/", include("allauth.urls")),
    path("me/", include("accounts.user_urls")),
    path("accounts/<uuid:account_id>/", include(account_urls)),
    # Public: the link in an invitation email (its secret rides in the fragment).
    path("invitations/<uuid:invitation_id>/", invitation, name="invitation"),
    path("api/", include("api.urls")),
    # What runs every account's clusters, for Django staff users: the fronts.
    path("operators/fronts/", include(fronts_pages)),
    # The fronts' contract (keyset/wire.py), authenticated by their own credentials.
    path("contract/v1/", include("fronts.urls")),
    # Prometheus, with CONSOLE_METRICS_TOKEN (console/metrics.py).
    path("metrics", metrics, name="metrics"),
]
