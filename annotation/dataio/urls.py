from django.urls import path

from annotation.dataio import views

app_name = "dataio"
urlpatterns = [
    path("", views.data_home, name="home"),
    path("import/", views.data_import, name="import"),
    path("task-sets/import/", views.task_set_import, name="task-set-import"),
    path("imports/<id:import_id>/", views.import_detail, name="import-detail"),
    path("uploads/<id:upload_id>/", views.upload_detail, name="upload-detail"),
    path("datasets/<id:dataset_id>/export/<str:kind>/", views.export_download, name="export"),
]
