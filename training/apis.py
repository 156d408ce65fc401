"""Policy-run API (admins only): one APIView per operation."""
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Dataset
from common.permissions import IsArbiterAdmin
from rewardmodel.models import RewardModelRun
from training import selectors, services
from training.models import PolicyRun, SFTRun

JOB_FIELDS = ["id", "name", "status", "progress", "config", "summary", "error", "artifact_path", "attempt",
              "cancel_requested", "created_at", "started_at", "finished_at", "heartbeat_at"]


class SFTRunOutput(serializers.ModelSerializer):
    class Meta:
        model = SFTRun
        fields = JOB_FIELDS + ["dataset", "base_model_path", "losses"]


class PolicyRunOutput(serializers.ModelSerializer):
    class Meta:
        model = PolicyRun
        fields = JOB_FIELDS + ["sft_run", "reward_run", "held_out_reward_run", "dataset", "baseline"]


class _AdminAPI(APIView):
    permission_classes = [IsArbiterAdmin]


class SFTRunListApi(_AdminAPI):
    def get(self, request):
        return Response(SFTRunOutput(selectors.sft_run_list()[:200], many=True).data)


class SFTRunCreateApi(_AdminAPI):
    class InputSerializer(serializers.Serializer):
        dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
        base_model_path = serializers.CharField(required=False, allow_blank=True, default="",
                                                max_length=SFTRun._meta.get_field("base_model_path").max_length)
        name = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=SFTRun._meta.get_field("name").max_length)
        config = serializers.DictField(required=False, default=dict)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.sft_run_create(**data.validated_data, created_by=request.user)
        return Response(SFTRunOutput(run).data, status=status.HTTP_201_CREATED)


class SFTRunDetailApi(_AdminAPI):
    def get(self, request, pk):
        return Response(SFTRunOutput(get_object_or_404(SFTRun, pk=pk)).data)


class PolicyRunListApi(_AdminAPI):
    def get(self, request):
        return Response(PolicyRunOutput(selectors.policy_run_list()[:200], many=True).data)


class PolicyRunCreateApi(_AdminAPI):
    class InputSerializer(serializers.Serializer):
        sft_run = serializers.PrimaryKeyRelatedField(queryset=SFTRun.objects.all())
        reward_run = serializers.PrimaryKeyRelatedField(queryset=RewardModelRun.objects.all())
        held_out_reward_run = serializers.PrimaryKeyRelatedField(queryset=RewardModelRun.objects.all(), required=False,
                                                                 allow_null=True, default=None)
        dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all(), required=False, allow_null=True,
                                                     default=None)
        name = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=PolicyRun._meta.get_field("name").max_length)
        config = serializers.DictField(required=False, default=dict)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.policy_run_create(**data.validated_data, created_by=request.user)
        return Response(PolicyRunOutput(run).data, status=status.HTTP_201_CREATED)


class PolicyRunDetailApi(_AdminAPI):
    class OutputSerializer(PolicyRunOutput):
        last_metrics = serializers.SerializerMethodField()
        warnings = serializers.SerializerMethodField()

        class Meta(PolicyRunOutput.Meta):
            fields = PolicyRunOutput.Meta.fields + ["last_metrics", "warnings"]

        def get_last_metrics(self, run):
            return selectors.policy_run_last_metrics(run=run)

        def get_warnings(self, run):
            return list(selectors.policy_run_warnings(run=run).values(
                "kind", "message", "step", "first_step", "value", "threshold", "times_fired"))

    def get(self, request, pk):
        return Response(self.OutputSerializer(get_object_or_404(PolicyRun, pk=pk)).data)


class PolicyRunStepsApi(_AdminAPI):
    def get(self, request, pk):
        run = get_object_or_404(PolicyRun, pk=pk)
        return Response(list(run.steps.order_by("step").values("step", "metrics")))


class PolicyRunSamplesApi(_AdminAPI):
    class OutputSerializer(serializers.Serializer):
        step = serializers.IntegerField()
        prompt = serializers.CharField()
        response = serializers.CharField()
        score = serializers.FloatField()
        kl = serializers.FloatField()
        held_out_score = serializers.FloatField(allow_null=True)

    def get(self, request, pk):
        run = get_object_or_404(PolicyRun, pk=pk)
        return Response(self.OutputSerializer(selectors.policy_run_samples(run=run)[:500], many=True).data)


class _RunActionApi(_AdminAPI):
    model = None

    def output(self, run):
        return (SFTRunOutput if self.model is SFTRun else PolicyRunOutput)(run).data


class RunCancelApi(_RunActionApi):
    def post(self, request, pk):
        return Response(self.output(services.run_cancel(run=get_object_or_404(self.model, pk=pk))))


class RunResumeApi(_RunActionApi):
    def post(self, request, pk):
        return Response(self.output(services.run_resume(run=get_object_or_404(self.model, pk=pk))))


class PolicySendToAnnotationApi(_AdminAPI):
    class InputSerializer(serializers.Serializer):
        dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
        mode = serializers.ChoiceField(choices=services.SEND_MODES, default="policy_vs_sft")
        n_prompts = serializers.IntegerField(min_value=1, max_value=1000, default=20)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        response_a = serializers.CharField(source="response_a.source")
        response_b = serializers.CharField(source="response_b.source")
        origin_run = serializers.CharField()

    def post(self, request, pk):
        run = get_object_or_404(PolicyRun, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pairs = services.policy_samples_send_to_annotation(run=run, created_by=request.user, **data.validated_data)
        return Response({"created": len(pairs), "pairs": self.OutputSerializer(pairs, many=True).data},
                        status=status.HTTP_201_CREATED)
