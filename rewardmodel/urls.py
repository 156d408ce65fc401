from django.urls import path

from rewardmodel import views

app_name = "rewardmodel"
urlpatterns = [
    path("", views.run_list, name="list"),
    path("new/", views.run_create, name="create"),
    path("compare/", views.run_compare, name="compare"),
    path("auto-retrain/", views.auto_retrain_set, name="auto-retrain"),
    path("<id:run_id>/", views.run_detail, name="detail"),
    path("<id:run_id>/cancel/", views.run_cancel, name="cancel"),
    path("<id:run_id>/resume/", views.run_resume, name="resume"),
    path("<id:run_id>/retrain/", views.run_retrain, name="retrain"),
    path("<id:run_id>/score-pairs/", views.run_score_pairs, name="score-pairs"),
    path("<id:run_id>/download/", views.run_download, name="download"),
]
