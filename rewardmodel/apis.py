"""REST API for reward-model runs (admins only): list, create, detail, cancel, resume, score."""
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Dataset
from common.permissions import IsArbiterAdmin
from rewardmodel import selectors, services
from rewardmodel.models import RewardModelRun
from rewardmodel.scoring import MAX_ITEMS, score_texts


class RunOutputSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")

    class Meta:
        model = RewardModelRun
        fields = ["id", "name", "dataset", "base_model_path", "status", "progress", "config", "summary",
                  "data_snapshot", "error", "artifact_path", "attempt", "created_at", "started_at", "finished_at"]


class RunListApi(APIView):
    permission_classes = [IsArbiterAdmin]

    def get(self, request):
        return Response(RunOutputSerializer(selectors.run_list()[:500], many=True).data)


class RunCreateApi(APIView):
    permission_classes = [IsArbiterAdmin]

    class InputSerializer(serializers.Serializer):
        dataset = serializers.SlugRelatedField(slug_field="name", queryset=Dataset.objects.all())
        base_model_path = serializers.CharField(
            required=False, allow_blank=True, max_length=RewardModelRun._meta.get_field("base_model_path").max_length
        )
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        config = serializers.DictField(required=False, help_text='{"train": {...}, "selection": {...}}')

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

    def get(self, request, run_id):
        run = get_object_or_404(selectors.run_list(), pk=run_id)
        data = RunOutputSerializer(run).data
        data["steps"] = list(run.steps.order_by("step").values("step", "metrics"))
        return Response(data)


class RunCancelApi(APIView):
    permission_classes = [IsArbiterAdmin]

    def post(self, request, run_id):
        run = services.reward_run_cancel(run=get_object_or_404(RewardModelRun, pk=run_id))
        return Response(RunOutputSerializer(run).data)


class RunResumeApi(APIView):
    permission_classes = [IsArbiterAdmin]

    def post(self, request, run_id):
        run = services.reward_run_resume(run=get_object_or_404(RewardModelRun, pk=run_id))
        return Response(RunOutputSerializer(run).data)


class RunScoreApi(APIView):
    """Scores (prompt, response) items with the run's model: higher is better."""

    permission_classes = [IsArbiterAdmin]

    class ItemSerializer(serializers.Serializer):
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

    class InputSerializer(serializers.Serializer):
        items = serializers.ListField(min_length=1, max_length=MAX_ITEMS)

    def post(self, request, run_id):
        run = get_object_or_404(RewardModelRun, pk=run_id)
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        items = self.ItemSerializer(data=s.validated_data["items"], many=True)
        items.is_valid(raise_exception=True)
        scores, n_truncated = score_texts(run=run, items=[(i["prompt"], i["response"]) for i in items.validated_data])
        return Response({"run": run.pk, "scores": scores, "n_truncated": n_truncated})
