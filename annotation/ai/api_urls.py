from django.urls import path

from annotation.ai import apis

urlpatterns = [
    path("constitutions/", apis.ConstitutionListApi.as_view(), name="constitution-list"),
    path("constitutions/create/", apis.ConstitutionCreateApi.as_view(), name="constitution-create"),
    path("ai-labellers/", apis.AILabellerListApi.as_view(), name="ai-labeller-list"),
    path("ai-labellers/create/", apis.AILabellerCreateApi.as_view(), name="ai-labeller-create"),
    path("ai-label-runs/", apis.RunListApi.as_view(), name="ai-label-run-list"),
    path("ai-label-runs/create/", apis.RunCreateApi.as_view(), name="ai-label-run-create"),
    path("ai-label-runs/<id:run_id>/", apis.RunDetailApi.as_view(), name="ai-label-run-detail"),
    path("ai-label-runs/<id:run_id>/cancel/", apis.RunCancelApi.as_view(), name="ai-label-run-cancel"),
    path("ai-label-runs/<id:run_id>/resume/", apis.RunResumeApi.as_view(), name="ai-label-run-resume"),
]
