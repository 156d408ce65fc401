from django.urls import path

from annotation.audit import apis

urlpatterns = [
    path("audit/<id:dataset_id>/", apis.AuditReportApi.as_view(), name="audit-report"),
    path("audit/<id:dataset_id>/exclusions/", apis.ExclusionListApi.as_view(), name="audit-exclusion-list"),
    path("audit/<id:dataset_id>/exclusions/create/", apis.ExclusionCreateApi.as_view(), name="audit-exclusion-create"),
    path("audit/exclusions/<id:exclusion_id>/revoke/", apis.ExclusionRevokeApi.as_view(),
         name="audit-exclusion-revoke"),
]
