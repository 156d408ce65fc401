from django.urls import path

from training import views

app_name = "training"
urlpatterns = [
    path("", views.run_list, name="runs"),
    path("sft/new/", views.sft_create, name="sft_create"),
    path("sft/<int:pk>/", views.sft_detail, name="sft_detail"),
    path("ppo/new/", views.policy_create, name="policy_create"),
    path("dpo/new/", views.dpo_create, name="dpo_create"),
    path("ppo/<int:pk>/", views.policy_detail, name="policy_detail"),
    path("ppo/<int:pk>/send/", views.policy_send, name="policy_send"),
    path("<str:kind>/<int:pk>/cancel/", views.run_cancel, name="cancel"),
    path("<str:kind>/<int:pk>/resume/", views.run_resume, name="resume"),
    path("<str:kind>/<int:pk>/download/", views.run_download, name="download"),
]
