from django.urls import path

from accounts import views

app_name = "accounts"

# Included under accounts/<uuid:account_id>/access/.
urlpatterns = [
    path("", views.access_management, name="access"),
    path("members/invite/", views.member_invite, name="invite"),
    path("members/<uuid:member_id>/", views.member_edit, name="member-edit"),
    path("members/<uuid:member_id>/remove/", views.member_remove_view, name="member-remove"),
    path("invitations/<uuid:invitation_id>/revoke/", views.invitation_revoke_view, name="invitation-revoke"),
]
