from django.urls import path

from training import apis
from training.models import PolicyRun, SFTRun

urlpatterns = [
    path("sft-runs/", apis.SFTRunListApi.as_view(), name="training-sft-list"),
    path("sft-runs/create/", apis.SFTRunCreateApi.as_view(), name="training-sft-create"),
    path("sft-runs/<id:pk>/", apis.SFTRunDetailApi.as_view(), name="training-sft-detail"),
    path("sft-runs/<id:pk>/cancel/", apis.RunCancelApi.as_view(model=SFTRun), name="training-sft-cancel"),
    path("sft-runs/<id:pk>/resume/", apis.RunResumeApi.as_view(model=SFTRun), name="training-sft-resume"),
    path("policy-runs/", apis.PolicyRunListApi.as_view(), name="training-policy-list"),
    path("policy-runs/create/", apis.PolicyRunCreateApi.as_view(), name="training-policy-create"),
    path("policy-runs/dpo/create/", apis.DPORunCreateApi.as_view(), name="training-dpo-create"),
    path("policy-runs/grpo/create/", apis.GRPORunCreateApi.as_view(), name="training-grpo-create"),
    path("policy-runs/kto/create/", apis.KTORunCreateApi.as_view(), name="training-kto-create"),
    path("policy-runs/spin/create/", apis.SPINRunCreateApi.as_view(), name="training-spin-create"),
    path("policy-runs/<id:pk>/", apis.PolicyRunDetailApi.as_view(), name="training-policy-detail"),
    path("policy-runs/<id:pk>/steps/", apis.PolicyRunStepsApi.as_view(), name="training-policy-steps"),
    path("policy-runs/<id:pk>/samples/", apis.PolicyRunSamplesApi.as_view(), name="training-policy-samples"),
    path("policy-runs/<id:pk>/cancel/", apis.RunCancelApi.as_view(model=PolicyRun), name="training-policy-cancel"),
    path("policy-runs/<id:pk>/resume/", apis.RunResumeApi.as_view(model=PolicyRun), name="training-policy-resume"),
    path("policy-runs/<id:pk>/send-to-annotation/", apis.PolicySendToAnnotationApi.as_view(),
         name="training-policy-send"),
]
