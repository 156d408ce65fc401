"""REST API for reward-model runs (admins only): list, create, detail, cancel, resume, score."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Dataset
from common.apis import StepOutputSerializer
from common.permissions import IsArbiterAdmin
from rewardmodel import selectors, services
from rewardmodel.models import RewardModelRun
from rewardmodel.scoring import MAX_ITEMS, score_texts


@extend_schema_serializer(component_name="RewardRun")
class RunOutputSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")

    class Meta:
        model = RewardModelRun
        fields = ["id", "name", "dataset", "base_model_path", "status", "progress", "config", "summary",
                  "data_snapshot", "error", "artifact_path", "attempt", "created_at", "started_at", "finished_at"]


@extend_schema_serializer(component_name="RewardRunDetail")
class RunDetailOutputSerializer(RunOutputSerializer):
    steps = serializers.SerializerMethodField()

    class Meta(RunOutputSerializer.Meta):
        fields = RunOutputSerializer.Meta.fields + ["steps"]

    @extend_schema_field(StepOutputSerializer(many=True))
    def get_steps(self, run):
        return list(run.steps.order_by("step").values("step", "metrics"))


class RunListApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=RunOutputSerializer(many=True),
                   summary="Reward-model runs, newest first (at most 500)")
    def get(self, request):
        return Response(RunOutputSerializer(selectors.run_list()[:500], many=True).data)


class RunCreateApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="RewardRunCreateInput")
    class InputSerializer(serializers.Serializer):
        dataset = serializers.SlugRelatedField(slug_field="name", queryset=Dataset.objects.all())
        base_model_path = serializers.CharField(
            required=False, allow_blank=True, max_length=RewardModelRun._meta.get_field("base_model_path").max_length
        )
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        config = serializers.DictField(
            required=False,
            help_text='{"train": {...}, "selection": {...}}; selection.judgement_source: "human" (default), "model" '
                      'or "both" (then selection.ai_weight, the weight of one AI judgement, 0 < w <= 10)',
        )

    @extend_schema(request=InputSerializer, responses={201: RunOutputSerializer},
                   summary="Queue a reward-model run")
    def post(self, request):
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        from rewardmodel.backbone import default_backbone_path

        run = services.reward_run_create(
            dataset=s.validated_data["dataset"],
            base_model_path=s.validated_data.get("base_model_path") or default_backbone_path(),
            name=s.validated_data.get("name", ""), config=s.validated_data.get("config", {}), created_by=request.user,
        )
        return Response(RunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=RunDetailOutputSerializer,
                   summary="One run, with its training steps' metrics")
    def get(self, request, run_id):
        return Response(RunDetailOutputSerializer(get_object_or_404(selectors.run_list(), pk=run_id)).data)


class RunCancelApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(request=None, responses=RunOutputSerializer,
                   summary="Cancel a queued or running run")
    def post(self, request, run_id):
        run = services.reward_run_cancel(run=get_object_or_404(RewardModelRun, pk=run_id))
        return Response(RunOutputSerializer(run).data)


class RunResumeApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(request=None, responses=RunOutputSerializer,
                   summary="Resume a failed or cancelled run from its last checkpoint")
    def post(self, request, run_id):
        run = services.reward_run_resume(run=get_object_or_404(RewardModelRun, pk=run_id))
        return Response(RunOutputSerializer(run).data)


@extend_schema_serializer(component_name="RewardScoreItem")
class ScoreItemSerializer(serializers.Serializer):
    prompt = serializers.JSONField(help_text="A string, or [{role, content}] messages.")
    response = serializers.CharField(allow_blank=True, trim_whitespace=False)

    def validate_prompt(self, value):
        if isinstance(value, str):
            return value
        ok = isinstance(value, list) and value and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value
        )
        if not ok:
            raise serializers.ValidationError("must be a string or a non-empty list of {role, content} strings")
        return value


class RunScoreApi(APIView):
    """Scores (prompt, response) items with the run's model: higher is better."""

    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="RewardScoreInput")
    class InputSerializer(serializers.Serializer):
        items = ScoreItemSerializer(many=True, min_length=1, max_length=MAX_ITEMS)

    @extend_schema_serializer(component_name="RewardScores")
    class OutputSerializer(serializers.Serializer):
        run = serializers.IntegerField()
        scores = serializers.ListField(child=serializers.FloatField(), help_text="One per item, in order.")
        n_truncated = serializers.IntegerField(help_text="Items cut to the model's maximum length.")

    @extend_schema(request=InputSerializer, responses=OutputSerializer,
                   summary="Score (prompt, response) items with the run's model")
    def post(self, request, run_id):
        run = get_object_or_404(RewardModelRun, pk=run_id)
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        scores, n_truncated = score_texts(run=run, items=[(i["prompt"], i["response"]) for i in s.validated_data["items"]])
        return Response(self.OutputSerializer({"run": run.pk, "scores": scores, "n_truncated": n_truncated}).data)
