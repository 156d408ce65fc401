from django.urls import path

from annotation.labelling import views

app_name = "labelling"
urlpatterns = [
    path("", views.dataset_list, name="datasets"),
    path("<id:dataset_id>/", views.compare, name="compare"),
    path("<id:dataset_id>/assignments/<id:assignment_id>/judge/", views.judge, name="judge"),
    path("<id:dataset_id>/assignments/<id:assignment_id>/skip/", views.skip, name="skip"),
    path("<id:dataset_id>/judgements/<id:judgement_id>/revise/", views.revise, name="revise"),
]
