from django.urls import path

from annotation.ratings import views

app_name = "ratings"
urlpatterns = [
    path("<id:dataset_id>/rate/", views.rate, name="rate"),
    path("<id:dataset_id>/rate/<id:assignment_id>/submit/", views.submit, name="submit"),
    path("<id:dataset_id>/rate/<id:assignment_id>/skip/", views.skip, name="skip"),
    path("<id:dataset_id>/ratings/<id:rating_id>/revise/", views.revise, name="revise"),
]
