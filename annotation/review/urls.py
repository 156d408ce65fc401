from django.urls import path

from annotation.review import views

app_name = "review"
urlpatterns = [
    path("", views.review_index, name="index"),
    path("search/", views.search, name="search"),
    path("<id:dataset_id>/", views.review_queue, name="queue"),
    path("<id:dataset_id>/pairs/<id:pair_id>/", views.review_pair, name="pair"),
    path("<id:dataset_id>/next/", views.review_next, name="next"),
    path("<id:dataset_id>/reviewers/", views.reviewer_add, name="reviewer-add"),
    path("<id:dataset_id>/reviewers/<id:labeller_id>/remove/", views.reviewer_remove, name="reviewer-remove"),
]
