from django.urls import path

from annotation.critique import apis

urlpatterns = [
    path("critique-runs/create/", apis.CritiqueRunCreateApi.as_view(), name="critique-run-create"),
    path("critique-runs/<id:run_id>/", apis.CritiqueRunDetailApi.as_view(), name="critique-run-detail"),
]
