from django.urls import path

from annotation.ratings import apis

urlpatterns = [
    path("datasets/<id:dataset_id>/ratings/next/", apis.RatingNextApi.as_view(), name="ratings-next"),
    path("rating-assignments/<id:assignment_id>/rating/", apis.RatingSubmitApi.as_view(), name="ratings-submit"),
    path("rating-assignments/<id:assignment_id>/skip/", apis.RatingSkipApi.as_view(), name="ratings-skip"),
    path("ratings/<id:rating_id>/revise/", apis.RatingReviseApi.as_view(), name="ratings-revise"),
]
