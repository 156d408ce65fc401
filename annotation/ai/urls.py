from django.urls import path

from annotation.ai import views

app_name = "ai"
urlpatterns = [
    path("", views.ai_index, name="index"),
    path("constitutions/new/", views.constitution_create, name="constitution-create"),
    path("labellers/new/", views.ai_labeller_create, name="labeller-create"),
    path("runs/new/", views.run_create, name="run-create"),
    path("runs/<id:run_id>/", views.run_detail, name="run"),
    path("runs/<id:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<id:run_id>/resume/", views.run_resume, name="run-resume"),
]
