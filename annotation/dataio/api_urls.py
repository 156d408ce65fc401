from django.urls import path
from annotation.dataio import apis
from common.apis import TokenObtainApi

urlpatterns = [
    path("auth/token/", TokenObtainApi.as_view(), name="api-token"),
    path("datasets/", apis.DatasetListApi.as_view(), name="dataset-list"),
    path("datasets/create/", apis.DatasetCreateApi.as_view(), name="dataset-create"),
    path("datasets/<id:dataset_id>/", apis.DatasetDetailApi.as_view(), name="dataset-detail"),
    path("datasets/<id:dataset_id>/update/", apis.DatasetUpdateApi.as_view(), name="dataset-update"),
    path("datasets/<id:dataset_id>/labellers/", apis.DatasetLabellersAddApi.as_view(), name="dataset-labellers-add"),
    path("datasets/<id:dataset_id>/labellers/<str:username>/", apis.DatasetLabellerRemoveApi.as_view(),
         name="dataset-labeller-remove"),
    path("datasets/<id:dataset_id>/pairs/", apis.PairListApi.as_view(), name="pair-list"),
    path("datasets/<id:dataset_id>/judgements/", apis.JudgementListApi.as_view(), name="judgement-list"),
    path("datasets/<id:dataset_id>/export/", apis.ExportApi.as_view(), name="dataset-export"),
    path("pairs/<id:pair_id>/", apis.PairDetailApi.as_view(), name="pair-detail"),
    path("imports/", apis.ImportListApi.as_view(), name="import-list"),
    path("imports/create/", apis.ImportCreateApi.as_view(), name="import-create"),
    path("imports/<id:import_id>/", apis.ImportDetailApi.as_view(), name="import-detail"),
]
