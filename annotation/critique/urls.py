from django.urls import path

from annotation.critique import views

app_name = "critique"
urlpatterns = [
    path("", views.critique_runs, name="runs"),
    path("<id:run_id>/", views.critique_detail, name="detail"),
    path("<id:run_id>/cancel/", views.critique_cancel, name="cancel"),
    path("<id:run_id>/resume/", views.critique_resume, name="resume"),
    path("<id:run_id>/sft.jsonl", views.critique_sft_jsonl, name="sft-jsonl"),
]
