from django.urls import path

from annotation.review import apis

urlpatterns = [
    path("review/<id:dataset_id>/queue/", apis.ReviewQueueApi.as_view(), name="review-queue"),
    path("review/<id:dataset_id>/pairs/<id:pair_id>/decisions/", apis.DecisionCreateApi.as_view(),
         name="review-decisions"),
    path("review/<id:dataset_id>/reviewers/", apis.ReviewersApi.as_view(), name="review-reviewers"),
    path("review/<id:dataset_id>/reviewers/<str:username>/", apis.ReviewerRemoveApi.as_view(),
         name="review-reviewer-remove"),
    path("review/search/judgements/", apis.JudgementSearchApi.as_view(), name="review-search-judgements"),
    path("review/search/pairs/", apis.PairSearchApi.as_view(), name="review-search-pairs"),
]
