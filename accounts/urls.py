from django.urls import path

from accounts import views

app_name = "accounts"

# Included under accounts/<uuid:account_id>/access/.
urlpatterns = [
    path("", views.access_management, name="access"),
    path("members/invite/", views.member_invite, name="invite"),
    path("members/<uuid:member_id>/", views.member_edit, name="member-edit"),
    path("members/<uuid:member_id>/remove/", views.member_remove_view, name="member-remove"),
    path("members/<uuid:member_id>/sessions/end/", views.member_sessions_end_view, name="member-sessions-end"),
    path("second-factor/", views.second_factor_requirement, name="second-factor"),
    path("roles/", views.role_list, name="roles"),
    path("roles/mine/", views.my_role, name="my-role"),
    path("roles/new/", views.role_create, name="role-create"),
    path("roles/<uuid:role_id>/", views.role_edit, name="role-edit"),
    path("roles/<uuid:role_id>/delete/", views.role_delete, name="role-delete"),
    path("invitations/<uuid:invitation_id>/revoke/", views.invitation_revoke_view, name="invitation-revoke"),
]
