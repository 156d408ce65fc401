from django.urls import path

from annotation.labelling import apis

urlpatterns = [
    path("datasets/<id:dataset_id>/next/", apis.AssignmentNextApi.as_view(), name="labelling-next"),
    path("assignments/<id:assignment_id>/judgement/", apis.JudgementSubmitApi.as_view(), name="labelling-judgement"),
    path("assignments/<id:assignment_id>/skip/", apis.AssignmentSkipApi.as_view(), name="labelling-skip"),
    path("judgements/<id:judgement_id>/revise/", apis.JudgementReviseApi.as_view(), name="labelling-revise"),
]
