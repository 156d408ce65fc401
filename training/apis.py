"""Policy-run API (admins only): one APIView per operation."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Dataset
from common.apis import StepOutputSerializer
from common.permissions import IsArbiterAdmin
from rewardmodel.models import RewardModelRun
from training import selectors, services
from training.models import MonitorWarning, PolicyRun, PolicySample, SFTRun, TaskSet

JOB_FIELDS = ["id", "name", "status", "progress", "config", "summary", "error", "artifact_path", "attempt",
              "cancel_requested", "created_at", "started_at", "finished_at", "heartbeat_at"]


@extend_schema_serializer(component_name="SFTRun")
class SFTRunOutput(serializers.ModelSerializer):
    class Meta:
        model = SFTRun
        fields = JOB_FIELDS + ["dataset", "base_model_path", "losses"]


@extend_schema_serializer(component_name="PolicyRun")
class PolicyRunOutput(serializers.ModelSerializer):
    class Meta:
        model = PolicyRun
        fields = JOB_FIELDS + ["kind", "sft_run", "base_model_path", "reward_run", "held_out_reward_run", "dataset",
                               "baseline", "data_snapshot"]


class _AdminAPI(APIView):
    permission_classes = [IsArbiterAdmin]


class SFTRunListApi(_AdminAPI):
    @extend_schema(responses=SFTRunOutput(many=True),
                   summary="SFT runs, newest first (at most 200)")
    def get(self, request):
        return Response(SFTRunOutput(selectors.sft_run_list()[:200], many=True).data)


class SFTRunCreateApi(_AdminAPI):
    @extend_schema_serializer(component_name="SFTRunCreateInput")
    class InputSerializer(serializers.Serializer):
        dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
        base_model_path = serializers.CharField(required=False, allow_blank=True, default="",
                                                max_length=SFTRun._meta.get_field("base_model_path").max_length)
        name = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=SFTRun._meta.get_field("name").max_length)
        config = serializers.DictField(required=False, default=dict)

    @extend_schema(request=InputSerializer, responses={201: SFTRunOutput},
                   summary="Queue an SFT run")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.sft_run_create(**data.validated_data, created_by=request.user)
        return Response(SFTRunOutput(run).data, status=status.HTTP_201_CREATED)


class SFTRunDetailApi(_AdminAPI):
    @extend_schema(responses=SFTRunOutput, summary="One SFT run")
    def get(self, request, pk):
        return Response(SFTRunOutput(get_object_or_404(SFTRun, pk=pk)).data)


class PolicyRunListApi(_AdminAPI):
    @extend_schema(responses=PolicyRunOutput(many=True),
                   summary="Policy (PPO and DPO) runs, newest first (at most 200)")
    def get(self, request):
        return Response(PolicyRunOutput(selectors.policy_run_list()[:200], many=True).data)


class PolicyRunCreateApi(_AdminAPI):
    @extend_schema_serializer(component_name="PolicyRunCreateInput")
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

    @extend_schema(request=InputSerializer, responses={201: PolicyRunOutput},
                   summary="Queue a policy (PPO) run")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.policy_run_create(**data.validated_data, created_by=request.user)
        return Response(PolicyRunOutput(run).data, status=status.HTTP_201_CREATED)


class DPORunCreateApi(_AdminAPI):
    @extend_schema_serializer(component_name="DPORunCreateInput")
    class InputSerializer(serializers.Serializer):
        dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
        sft_run = serializers.PrimaryKeyRelatedField(queryset=SFTRun.objects.all(), required=False, allow_null=True,
                                                     default=None)
        base_model_path = serializers.CharField(required=False, allow_blank=True, default="",
                                                max_length=PolicyRun._meta.get_field("base_model_path").max_length)
        name = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=PolicyRun._meta.get_field("name").max_length)
        config = serializers.DictField(required=False, default=dict,
                                       help_text='DPOConfig fields, and the data selection under "selection".')

    @extend_schema(request=InputSerializer, responses={201: PolicyRunOutput},
                   summary="Queue a DPO policy run (from an SFT run or a base model folder)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.dpo_run_create(**data.validated_data, created_by=request.user)
        return Response(PolicyRunOutput(run).data, status=status.HTTP_201_CREATED)


class KTORunCreateApi(_AdminAPI):
    @extend_schema_serializer(component_name="KTORunCreateInput")
    class InputSerializer(serializers.Serializer):
        dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
        sft_run = serializers.PrimaryKeyRelatedField(queryset=SFTRun.objects.all(), required=False, allow_null=True,
                                                     default=None)
        base_model_path = serializers.CharField(required=False, allow_blank=True, default="",
                                                max_length=PolicyRun._meta.get_field("base_model_path").max_length)
        name = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=PolicyRun._meta.get_field("name").max_length)
        config = serializers.DictField(required=False, default=dict,
                                       help_text='KTOConfig fields; "source": "comparisons" (default) or "ratings"; '
                                                 'for comparisons the data selection under "selection".')

    @extend_schema(request=InputSerializer, responses={201: PolicyRunOutput},
                   summary="Queue a KTO policy run (from an SFT run or a base model folder)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.kto_run_create(**data.validated_data, created_by=request.user)
        return Response(PolicyRunOutput(run).data, status=status.HTTP_201_CREATED)


@extend_schema_serializer(component_name="MonitorWarning")
class MonitorWarningOutput(serializers.ModelSerializer):
    class Meta:
        model = MonitorWarning
        fields = ["kind", "message", "step", "first_step", "value", "threshold", "times_fired"]


class PolicyRunDetailApi(_AdminAPI):
    @extend_schema_serializer(component_name="PolicyRunDetail")
    class OutputSerializer(PolicyRunOutput):
        last_metrics = serializers.SerializerMethodField()
        warnings = serializers.SerializerMethodField()

        class Meta(PolicyRunOutput.Meta):
            fields = PolicyRunOutput.Meta.fields + ["last_metrics", "warnings"]

        @extend_schema_field(serializers.DictField(help_text="The last step's metrics, with its `step`; {} before any."))
        def get_last_metrics(self, run):
            return selectors.policy_run_last_metrics(run=run)

        @extend_schema_field(MonitorWarningOutput(many=True))
        def get_warnings(self, run):
            return MonitorWarningOutput(selectors.policy_run_warnings(run=run), many=True).data

    @extend_schema(responses=OutputSerializer,
                   summary="One policy run, with its last metrics and the monitors' warnings")
    def get(self, request, pk):
        return Response(self.OutputSerializer(get_object_or_404(PolicyRun, pk=pk)).data)


class PolicyRunStepsApi(_AdminAPI):
    @extend_schema(responses=StepOutputSerializer(many=True),
                   summary="A policy run's steps and their metrics")
    def get(self, request, pk):
        run = get_object_or_404(PolicyRun, pk=pk)
        return Response(list(run.steps.order_by("step").values("step", "metrics")))


class PolicyRunSamplesApi(_AdminAPI):
    @extend_schema_serializer(component_name="PolicySample")
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = PolicySample
            fields = ["step", "prompt", "response", "score", "kl", "held_out_score", "details", "iteration"]

    @extend_schema(responses=OutputSerializer(many=True),
                   summary="A policy run's logged samples, latest step first (at most 500)")
    def get(self, request, pk):
        run = get_object_or_404(PolicyRun, pk=pk)
        return Response(self.OutputSerializer(selectors.policy_run_samples(run=run)[:500], many=True).data)


class _RunActionApi(_AdminAPI):
    """Cancel or resume: one view for both run models (`model` is given in the URL conf)."""

    model = None

    def get_serializer_class(self):  # also the schema's response
        return SFTRunOutput if self.model is SFTRun else PolicyRunOutput

    def output(self, run):
        return self.get_serializer_class()(run).data


class RunCancelApi(_RunActionApi):
    @extend_schema(request=None, summary="Cancel a queued or running run")
    def post(self, request, pk):
        return Response(self.output(services.run_cancel(run=get_object_or_404(self.model, pk=pk))))


class RunResumeApi(_RunActionApi):
    @extend_schema(request=None, summary="Resume a failed or cancelled run from its last checkpoint")
    def post(self, request, pk):
        return Response(self.output(services.run_resume(run=get_object_or_404(self.model, pk=pk))))


@extend_schema_serializer(component_name="PolicySentPair")
class SentPairSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    response_a = serializers.CharField(source="response_a.source")
    response_b = serializers.CharField(source="response_b.source")
    origin_run = serializers.CharField()


class PolicySendToAnnotationApi(_AdminAPI):
    @extend_schema_serializer(component_name="PolicySendToAnnotationInput")
    class InputSerializer(serializers.Serializer):
        dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
        mode = serializers.ChoiceField(choices=services.SEND_MODES, default="policy_vs_sft")
        n_prompts = serializers.IntegerField(min_value=1, max_value=1000, default=20)

    @extend_schema_serializer(component_name="PolicySentToAnnotation")
    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()
        pairs = SentPairSerializer(many=True)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer},
                   summary="Make annotation pairs from the run's responses")
    def post(self, request, pk):
        run = get_object_or_404(PolicyRun, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pairs = services.policy_samples_send_to_annotation(run=run, created_by=request.user, **data.validated_data)
        return Response(self.OutputSerializer({"created": len(pairs), "pairs": pairs}).data, status=status.HTTP_201_CREATED)


@extend_schema_serializer(component_name="GRPORun")
class GRPORunOutput(PolicyRunOutput):
    class Meta(PolicyRunOutput.Meta):
        fields = PolicyRunOutput.Meta.fields + ["task_set"]


class GRPORunCreateApi(_AdminAPI):
    @extend_schema_serializer(component_name="GRPORunCreateInput")
    class InputSerializer(serializers.Serializer):
        task_set = serializers.PrimaryKeyRelatedField(queryset=TaskSet.objects.all())
        sft_run = serializers.PrimaryKeyRelatedField(queryset=SFTRun.objects.all(), required=False, allow_null=True,
                                                     default=None)
        base_model_path = serializers.CharField(required=False, allow_blank=True, default="",
                                                max_length=PolicyRun._meta.get_field("base_model_path").max_length)
        reward_run = serializers.PrimaryKeyRelatedField(
            queryset=RewardModelRun.objects.all(), required=False, allow_null=True, default=None,
            help_text='A trained reward model, mixed in through a {"checker": "reward_model"} term of the reward spec.')
        name = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=PolicyRun._meta.get_field("name").max_length)
        config = serializers.DictField(required=False, default=dict,
                                       help_text='GRPOConfig fields, "sample_every", and the reward spec under '
                                                 '"reward_spec" (default: one term per checker of the task set).')

    @extend_schema(request=InputSerializer, responses={201: GRPORunOutput},
                   summary="Queue a GRPO policy run on a task set (from an SFT run or a base model folder)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.grpo_run_create(**data.validated_data, created_by=request.user)
        return Response(GRPORunOutput(run).data, status=status.HTTP_201_CREATED)


class SPINRunCreateApi(_AdminAPI):
    @extend_schema_serializer(component_name="SPINRunCreateInput")
    class InputSerializer(serializers.Serializer):
        dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all())
        sft_run = serializers.PrimaryKeyRelatedField(queryset=SFTRun.objects.all(), required=False, allow_null=True,
                                                     default=None)
        base_model_path = serializers.CharField(required=False, allow_blank=True, default="",
                                                max_length=PolicyRun._meta.get_field("base_model_path").max_length)
        name = serializers.CharField(required=False, allow_blank=True, default="",
                                     max_length=PolicyRun._meta.get_field("name").max_length)
        config = serializers.DictField(required=False, default=dict, help_text="SPINConfig fields (training/spin.py).")

    @extend_schema(request=InputSerializer, responses={201: PolicyRunOutput},
                   summary="Queue a SPIN policy run (self-play on the dataset's demonstrations)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.spin_run_create(**data.validated_data, created_by=request.user)
        return Response(PolicyRunOutput(run).data, status=status.HTTP_201_CREATED)
