from django.urls import path

from training import views

app_name = "training"
urlpatterns = [
    path("", views.run_list, name="runs"),
    path("sft/new/", views.sft_create, name="sft_create"),
    path("sft/<id:pk>/", views.sft_detail, name="sft_detail"),
    path("ppo/new/", views.policy_create, name="policy_create"),
    path("dpo/new/", views.dpo_create, name="dpo_create"),
    path("grpo/new/", views.grpo_create, name="grpo_create"),
    path("grpo/<id:pk>/", views.grpo_detail, name="grpo_detail"),
    path("grpo/<id:pk>/send/", views.grpo_send, name="grpo_send"),
    path("kto/new/", views.kto_create, name="kto_create"),
    path("spin/new/", views.spin_create, name="spin_create"),
    path("ppo/<id:pk>/", views.policy_detail, name="policy_detail"),
    path("ppo/<id:pk>/send/", views.policy_send, name="policy_send"),
    path("<str:kind>/<id:pk>/cancel/", views.run_cancel, name="cancel"),
    path("<str:kind>/<id:pk>/resume/", views.run_resume, name="resume"),
    path("<str:kind>/<id:pk>/download/", views.run_download, name="download"),
]
