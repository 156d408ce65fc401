from django.urls import path

from rewardmodel import apis

urlpatterns = [
    path("reward-runs/", apis.RunListApi.as_view(), name="reward-run-list"),
    path("reward-runs/create/", apis.RunCreateApi.as_view(), name="reward-run-create"),
    path("reward-runs/<id:run_id>/", apis.RunDetailApi.as_view(), name="reward-run-detail"),
    path("reward-runs/<id:run_id>/cancel/", apis.RunCancelApi.as_view(), name="reward-run-cancel"),
    path("reward-runs/<id:run_id>/resume/", apis.RunResumeApi.as_view(), name="reward-run-resume"),
    path("reward-runs/<id:run_id>/score/", apis.RunScoreApi.as_view(), name="reward-run-score"),
]
