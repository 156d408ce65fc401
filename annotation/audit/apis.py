"""The audit API: a dataset's audit document, and labeller exclusions. Admins only."""
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.audit.report import audit_report
from annotation.audit.selectors import exclusions_for_dataset
from annotation.audit.services import exclusion_create, exclusion_revoke
from annotation.models import Dataset, Labeller
from common.permissions import IsArbiterAdmin


@extend_schema_serializer(component_name="AuditExclusion")
class ExclusionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    labeller = serializers.CharField(source="labeller.user.username")
    dataset = serializers.CharField(source="dataset.name", allow_null=True, default=None)
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_by = serializers.CharField(source="revoked_by.username", allow_null=True, default=None)
    revoke_reason = serializers.CharField()


class AuditReportApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(
        parameters=[OpenApiParameter("refresh", OpenApiTypes.BOOL, description="Recompute even if the cache is valid."),
                    OpenApiParameter("overrides", OpenApiTypes.BOOL,
                                     description="Count reviewers' overrides: an overridden pair's judgements are "
                                                 "compared with the reviewer's choice instead of the majority.")],
        responses=OpenApiTypes.OBJECT,
        summary="The audit of a dataset: agreement, biases, labellers with flags, leaderboard",
    )
    def get(self, request, dataset_id: int):
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        refresh = request.query_params.get("refresh", "").lower() in {"1", "true", "yes"}
        overrides = request.query_params.get("overrides", "").lower() in {"1", "true", "yes"}
        return Response(audit_report(dataset=dataset, use_cache=not refresh, count_overrides=overrides))


class ExclusionListApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=ExclusionOutputSerializer(many=True), summary="Exclusions that apply to a dataset")
    def get(self, request, dataset_id: int):
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        return Response(ExclusionOutputSerializer(exclusions_for_dataset(dataset=dataset), many=True).data)


class ExclusionCreateApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="AuditExclusionCreateInput")
    class InputSerializer(serializers.Serializer):
        labeller = serializers.CharField(help_text="Username of the labeller to exclude.")
        all_datasets = serializers.BooleanField(default=False, help_text="Exclude from every dataset, not only this one.")
        start = serializers.DateTimeField(required=False, allow_null=True, default=None)
        end = serializers.DateTimeField(required=False, allow_null=True, default=None)
        reason = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: ExclusionOutputSerializer},
                   summary="Exclude a labeller (or a time range of theirs) from training data and exports")
    def post(self, request, dataset_id: int):
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        labeller = Labeller.objects.filter(user__username=v["labeller"]).first()
        if labeller is None:
            raise serializers.ValidationError({"labeller": f"No labeller named {v['labeller']!r}."})
        exclusion = exclusion_create(
            labeller=labeller, dataset=None if v["all_datasets"] else dataset, start=v["start"], end=v["end"],
            reason=v["reason"], created_by=request.user,
        )
        return Response(ExclusionOutputSerializer(exclusion).data, status=status.HTTP_201_CREATED)


class ExclusionRevokeApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="AuditExclusionRevokeInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses=ExclusionOutputSerializer, summary="Revoke an exclusion")
    def post(self, request, exclusion_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exclusion = exclusion_revoke(exclusion_id=exclusion_id, revoked_by=request.user, reason=data.validated_data["reason"])
        return Response(ExclusionOutputSerializer(exclusion).data)
