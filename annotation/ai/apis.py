"""REST API for AI labellers (admins only). The endpoint's key is never accepted or returned: an
AI labeller names the environment variable its worker reads the key from."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.ai import runs, selectors, services
from annotation.ai.backends.chat_endpoint import public_url
from annotation.models import AILabeller, AILabelRun, Constitution, Dataset
from common.permissions import IsArbiterAdmin
from rewardmodel.models import RewardModelRun


@extend_schema_serializer(component_name="Constitution")
class ConstitutionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Constitution
        fields = ["id", "name", "version", "principles", "created_at"]


@extend_schema_serializer(component_name="AILabeller")
class AILabellerOutputSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="labeller.user.username")
    constitution = serializers.StringRelatedField()
    endpoint_url = serializers.SerializerMethodField()

    class Meta:
        model = AILabeller
        # no api_key_encrypted, ever
        fields = ["id", "username", "backend", "model_path", "reward_run", "endpoint_url", "endpoint_model",
                  "api_key_env", "constitution", "prompt_template", "settings"]

    def get_endpoint_url(self, ai) -> str:
        return public_url(ai.endpoint_url) if ai.endpoint_url else ""


@extend_schema_serializer(component_name="AILabelRun")
class RunOutputSerializer(serializers.ModelSerializer):
    ai_labeller = serializers.CharField(source="ai_labeller.labeller.user.username")
    dataset = serializers.CharField(source="dataset.name")

    class Meta:
        model = AILabelRun
        fields = ["id", "ai_labeller", "dataset", "status", "progress", "limit", "below_human_k", "seed", "pair_ids", "n_pairs",
                  "n_judged", "n_failed", "failures", "summary", "error", "attempt", "created_at", "started_at",
                  "finished_at"]


class ConstitutionListApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=ConstitutionOutputSerializer(many=True), summary="Constitutions, every version")
    def get(self, request):
        return Response(ConstitutionOutputSerializer(selectors.constitution_list()[:500], many=True).data)


class ConstitutionCreateApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="ConstitutionCreateInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        principles = serializers.ListField(child=serializers.CharField(max_length=services.PRINCIPLE_MAX_CHARS),
                                           min_length=1, max_length=services.PRINCIPLES_MAX)

    @extend_schema(request=InputSerializer, responses={201: ConstitutionOutputSerializer},
                   summary="Create a constitution, or the next version of one")
    def post(self, request):
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        c = services.constitution_create(**s.validated_data, created_by=request.user)
        return Response(ConstitutionOutputSerializer(c).data, status=status.HTTP_201_CREATED)


class AILabellerListApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=AILabellerOutputSerializer(many=True), summary="AI labellers")
    def get(self, request):
        return Response(AILabellerOutputSerializer(selectors.ai_labeller_list()[:500], many=True).data)


class AILabellerCreateApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="AILabellerCreateInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        backend = serializers.ChoiceField(choices=AILabeller.Backend.choices)
        model_path = serializers.CharField(max_length=1024, required=False, default="")
        reward_run = serializers.PrimaryKeyRelatedField(queryset=RewardModelRun.objects.all(), required=False,
                                                        allow_null=True, default=None)
        endpoint_url = serializers.URLField(max_length=1024, required=False, default="")
        endpoint_model = serializers.CharField(max_length=200, required=False, default="")
        api_key_env = serializers.CharField(max_length=100, required=False, default="",
                                            help_text="The worker's environment variable holding the key.")
        constitution = serializers.PrimaryKeyRelatedField(queryset=Constitution.objects.all(), required=False,
                                                          allow_null=True, default=None)
        prompt_template = serializers.CharField(max_length=services.TEMPLATE_MAX_CHARS, required=False, default="")
        settings = serializers.DictField(required=False, default=dict)

        def validate(self, attrs):
            if "api_key" in self.initial_data:
                raise serializers.ValidationError({"api_key": "Keys are not accepted: put the key in the worker's "
                                                              "environment and name the variable in api_key_env."})
            return attrs

    @extend_schema(request=InputSerializer, responses={201: AILabellerOutputSerializer},
                   summary="Create an AI labeller (a labeller of kind 'model')")
    def post(self, request):
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        ai = services.ai_labeller_create(**s.validated_data)
        return Response(AILabellerOutputSerializer(ai).data, status=status.HTTP_201_CREATED)


class RunListApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=RunOutputSerializer(many=True), summary="AI labelling runs, newest first (at most 500)")
    def get(self, request):
        return Response(RunOutputSerializer(selectors.ai_label_run_list()[:500], many=True).data)


class RunCreateApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="AILabelRunCreateInput")
    class InputSerializer(serializers.Serializer):
        ai_labeller = serializers.CharField(max_length=150, help_text="The AI labeller's username.")
        dataset = serializers.SlugRelatedField(slug_field="name", queryset=Dataset.objects.all())
        limit = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
        below_human_k = serializers.IntegerField(min_value=1, max_value=100, required=False, allow_null=True,
                                                 default=None, help_text="Only pairs with fewer human judgements.")
        seed = serializers.IntegerField(required=False, allow_null=True, default=None)
        pair_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list,
                                         max_length=100_000, help_text="Only these pairs of the dataset; empty: all.")

        def validate_ai_labeller(self, value):
            ai = AILabeller.objects.filter(labeller__user__username=value).first()
            if ai is None:
                raise serializers.ValidationError(f"No AI labeller named '{value}'.")
            return ai

    @extend_schema(request=InputSerializer, responses={201: RunOutputSerializer}, summary="Queue an AI labelling run")
    def post(self, request):
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        run = runs.ai_label_run_create(**s.validated_data, created_by=request.user)
        return Response(RunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class RunDetailApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=RunOutputSerializer, summary="One AI labelling run: progress, counts, failed pairs")
    def get(self, request, run_id):
        return Response(RunOutputSerializer(get_object_or_404(selectors.ai_label_run_list(), pk=run_id)).data)


class RunCancelApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(request=None, responses=RunOutputSerializer, summary="Cancel a queued or running AI labelling run")
    def post(self, request, run_id):
        return Response(RunOutputSerializer(runs.ai_label_run_cancel(run=get_object_or_404(AILabelRun, pk=run_id))).data)


class RunResumeApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(request=None, responses=RunOutputSerializer,
                   summary="Resume a failed or cancelled run: it skips the pairs already judged")
    def post(self, request, run_id):
        return Response(RunOutputSerializer(runs.ai_label_run_resume(run=get_object_or_404(AILabelRun, pk=run_id))).data)
