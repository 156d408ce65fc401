"""Critique-and-revise API (admins only): start a run, read one with its results."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.critique import selectors, services
from annotation.models import Constitution, CritiqueRevision, CritiqueRun, Dataset
from common.permissions import IsArbiterAdmin


@extend_schema_serializer(component_name="CritiqueRevision")
class RevisionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CritiqueRevision
        fields = ["id", "source_response", "principle", "critique", "revision", "model", "revision_response", "pair",
                  "expected_side", "note", "created_at"]


@extend_schema_serializer(component_name="CritiqueRun")
class RunOutputSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.name")
    constitution = serializers.StringRelatedField()

    class Meta:
        model = CritiqueRun
        fields = ["id", "dataset", "model_path", "constitution", "limit", "output", "status", "progress", "config",
                  "summary", "error", "attempt", "created_at", "started_at", "finished_at"]


class CritiqueRunCreateApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="CritiqueRunCreateInput")
    class InputSerializer(serializers.Serializer):
        dataset = serializers.SlugRelatedField(slug_field="name", queryset=Dataset.objects.all())
        model_path = serializers.CharField(max_length=1024)
        constitution = serializers.PrimaryKeyRelatedField(queryset=Constitution.objects.all(), required=False, allow_null=True)
        limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        output = serializers.ChoiceField(choices=CritiqueRun.Output.choices, default=CritiqueRun.Output.PAIR)
        config = serializers.DictField(required=False, help_text='{"max_new_tokens", "temperature", "top_p", "seed", '
                                                                 '"chat_template", "batch_size"}')

    @extend_schema(request=InputSerializer, responses={201: RunOutputSerializer}, summary="Queue a critique-and-revise run")
    def post(self, request):
        s = self.InputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        d = s.validated_data
        run = services.critique_run_create(dataset=d["dataset"], model_path=d["model_path"],
                                           constitution=d.get("constitution"), limit=d.get("limit"), output=d["output"],
                                           config=d.get("config") or {}, created_by=request.user)
        return Response(RunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class CritiqueRunDetailApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=RunOutputSerializer, summary="A critique-and-revise run with its first 500 results")
    def get(self, request, run_id: int):
        run = get_object_or_404(selectors.critique_runs(), pk=run_id)
        revisions = RevisionOutputSerializer(selectors.revisions_of_run(run=run)[:500], many=True).data
        return Response({**RunOutputSerializer(run).data, "revisions": revisions})
