from django.urls import path

from annotation.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.audit_index, name="index"),
    path("<int:dataset_id>/", views.audit_dataset, name="dataset"),
    path("<int:dataset_id>/labellers.csv", views.audit_labellers_csv, name="labellers-csv"),
    path("<int:dataset_id>/exclude/<int:labeller_id>/", views.audit_exclude, name="exclude"),
    path("<int:dataset_id>/exclusions/<int:exclusion_id>/revoke/", views.audit_exclusion_revoke, name="exclusion-revoke"),
]
