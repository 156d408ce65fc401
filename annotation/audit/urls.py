from django.urls import path

from annotation.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.audit_index, name="index"),
    path("<id:dataset_id>/", views.audit_dataset, name="dataset"),
    path("<id:dataset_id>/labellers.csv", views.audit_labellers_csv, name="labellers-csv"),
    path("<id:dataset_id>/exclude/<id:labeller_id>/", views.audit_exclude, name="exclude"),
    path("<id:dataset_id>/exclusions/<id:exclusion_id>/revoke/", views.audit_exclusion_revoke, name="exclusion-revoke"),
]
