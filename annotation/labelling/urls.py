from django.urls import path

from annotation.labelling import views

app_name = "labelling"
urlpatterns = [
    path("", views.dataset_list, name="datasets"),
    path("<int:dataset_id>/", views.compare, name="compare"),
    path("<int:dataset_id>/assignments/<int:assignment_id>/judge/", views.judge, name="judge"),
    path("<int:dataset_id>/assignments/<int:assignment_id>/skip/", views.skip, name="skip"),
    path("<int:dataset_id>/judgements/<int:judgement_id>/revise/", views.revise, name="revise"),
]
