from django.urls import path

from annotation.team import views

app_name = "team"
urlpatterns = [
    path("", views.team_index, name="index"),
    path("new/", views.team_create, name="create"),
    path("assign/", views.team_assign, name="assign"),
    path("<id:labeller_id>/", views.team_labeller, name="labeller"),
    path("<id:labeller_id>/edit/", views.team_labeller_edit, name="edit"),
    path("<id:labeller_id>/deactivate/", views.team_deactivate, name="deactivate"),
    path("<id:labeller_id>/reactivate/", views.team_reactivate, name="reactivate"),
    path("<id:labeller_id>/password-link/", views.team_password_link, name="password-link"),
    path("set-password/<str:uidb64>/<str:token>/", views.set_password, name="set-password"),
]
