"""The data API: datasets, pairs, judgements, imports and exports. One APIView per operation."""
from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.dataio import selectors
from annotation.dataio.datasets import dataset_create, dataset_update, labellers_named
from annotation.dataio.downloads import export_response
from annotation.dataio.formats import FORMATS
from annotation.dataio.services import ImportRejected, import_file
from annotation.labelling.services import dataset_labellers_add, dataset_labellers_remove
from annotation.models import (
    DESCRIPTION_MAX_CHARS, INSTRUCTIONS_MAX_CHARS, LEASE_MINUTES_MAX, OVERLAP_K_MAX, STRENGTH_LABEL_MAX_CHARS, Choice,
    Dataset, ImportBatch, Pair,
)
from common.apis import ERROR_DETAIL
from common.permissions import IsArbiterAdmin
from common.validation import text_clean


class PaginatedListApi(APIView):
    """A list answered in pages (`?limit=&offset=`); the schema documents the page from this attribute."""

    pagination_class = LimitOffsetPagination


def paginated(*, queryset, serializer_class, request, view: PaginatedListApi) -> Response:
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class DatasetOutputSerializer(serializers.ModelSerializer):
    n_pairs = serializers.IntegerField(read_only=True)
    n_judgements = serializers.IntegerField(read_only=True)
    n_rating_items = serializers.IntegerField(read_only=True, help_text="rate mode: responses put up for rating")
    n_ratings = serializers.IntegerField(read_only=True)
    n_labellers = serializers.IntegerField(read_only=True)

    class Meta:
        model = Dataset
        fields = ["id", "name", "mode", "description", "instructions", "overlap_k", "repeat_rate", "gold_rate",
                  "choices", "strength_scale", "lease_minutes", "created_at", "n_pairs", "n_judgements",
                  "n_rating_items", "n_ratings", "n_labellers"]


class DatasetListApi(PaginatedListApi):
    @extend_schema(responses=DatasetOutputSerializer(many=True), summary="Datasets you can see (admins: all)")
    def get(self, request):
        qs = selectors.datasets_with_counts(selectors.datasets_visible_to(request.user))
        return paginated(queryset=qs, serializer_class=DatasetOutputSerializer, request=request, view=self)


class DatasetDetailApi(APIView):
    @extend_schema(responses=DatasetOutputSerializer, summary="One dataset with its counts")
    def get(self, request, dataset_id: int):
        qs = selectors.datasets_with_counts(selectors.datasets_visible_to(request.user))
        return Response(DatasetOutputSerializer(get_object_or_404(qs, pk=dataset_id)).data)


class DatasetInputSerializer(serializers.Serializer):
    description = serializers.CharField(required=False, allow_blank=True, max_length=DESCRIPTION_MAX_CHARS,
                                        help_text=Dataset._meta.get_field("description").help_text)
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=INSTRUCTIONS_MAX_CHARS,
                                         help_text=Dataset._meta.get_field("instructions").help_text)
    overlap_k = serializers.IntegerField(required=False, min_value=1, max_value=OVERLAP_K_MAX,
                                         help_text=Dataset._meta.get_field("overlap_k").help_text)
    repeat_rate = serializers.FloatField(required=False, min_value=0, max_value=1)
    gold_rate = serializers.FloatField(required=False, min_value=0, max_value=1)
    choices = serializers.ListField(child=serializers.ChoiceField(choices=Choice.choices), required=False,
                                    allow_empty=False)
    strength_scale = serializers.DictField(
        child=serializers.CharField(max_length=STRENGTH_LABEL_MAX_CHARS), required=False,
        help_text=f'{{"1": label, "2": label, "3": label}}, each label at most {STRENGTH_LABEL_MAX_CHARS} characters.',
    )
    lease_minutes = serializers.IntegerField(required=False, min_value=1, max_value=LEASE_MINUTES_MAX,
                                             help_text=Dataset._meta.get_field("lease_minutes").help_text)
    labellers = serializers.ListField(child=serializers.CharField(), required=False,
                                      help_text="Usernames of the labellers assigned (replaces the list).")


class DatasetCreateApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="DatasetCreateInput")
    class InputSerializer(DatasetInputSerializer):
        name = serializers.CharField(max_length=200)
        mode = serializers.ChoiceField(choices=Dataset.Mode.choices, required=False, default=Dataset.Mode.COMPARE,
                                       help_text=Dataset._meta.get_field("mode").help_text + " Set at creation only.")

    @extend_schema(request=InputSerializer, responses={201: DatasetOutputSerializer}, summary="Create a dataset")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = dataset_create(**data.validated_data)
        return Response(DatasetOutputSerializer(selectors.datasets_with_counts().get(pk=dataset.pk)).data,
                        status=status.HTTP_201_CREATED)


class DatasetUpdateApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(request=DatasetInputSerializer, responses=DatasetOutputSerializer,
                   summary="Change a dataset's settings or assigned labellers")
    def patch(self, request, dataset_id: int):
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = DatasetInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        dataset_update(dataset=dataset, **data.validated_data)
        return Response(DatasetOutputSerializer(selectors.datasets_with_counts().get(pk=dataset.pk)).data)


USERNAME_MAX_CHARS = get_user_model()._meta.get_field("username").max_length


class DatasetLabellersAddApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="DatasetLabellersAddInput")
    class InputSerializer(serializers.Serializer):
        labellers = serializers.ListField(child=serializers.CharField(max_length=USERNAME_MAX_CHARS),
                                          allow_empty=False, help_text="Usernames to assign (members stay).")

    @extend_schema_serializer(component_name="DatasetLabellersOutput")
    class OutputSerializer(serializers.Serializer):
        labellers = serializers.ListField(child=serializers.CharField(),
                                          help_text="Usernames of every labeller assigned, after the change.")

    @extend_schema(request=InputSerializer, responses=OutputSerializer,
                   summary="Assign labellers to a dataset, keeping its members (idempotent)")
    def post(self, request, dataset_id: int):
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset_labellers_add(dataset=dataset, labellers=labellers_named(data.validated_data["labellers"]))
        return Response(self.OutputSerializer({"labellers": selectors.dataset_member_usernames(dataset=dataset)}).data)


class DatasetLabellerRemoveApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses={204: None,
                              400: OpenApiResponse(ERROR_DETAIL, description="A username that cannot be stored.")},
                   summary="Unassign one labeller from a dataset (her active leases there end at once)")
    def delete(self, request, dataset_id: int, username: str):
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        username = text_clean(username, name="username", max_chars=USERNAME_MAX_CHARS)
        labeller = get_object_or_404(dataset.labellers.select_related("user"), user__username=username)
        dataset_labellers_remove(dataset=dataset, labellers=[labeller])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PairOutputSerializer(serializers.ModelSerializer):
    prompt = serializers.JSONField(source="prompt.messages", help_text="[{role, content}] turns")
    response_a = serializers.CharField(source="response_a.text")
    response_b = serializers.CharField(source="response_b.text")
    model_a = serializers.CharField(source="response_a.source")
    model_b = serializers.CharField(source="response_b.source")
    gold = serializers.CharField(help_text="'a', 'b' or '' (none)")
    agrees_with_user = serializers.CharField(help_text="'a', 'b' or '' (none)")

    class Meta:
        model = Pair
        fields = ["id", "dataset", "external_id", "origin", "origin_run", "prompt", "response_a", "response_b",
                  "model_a", "model_b", "gold", "agrees_with_user", "n_judgements", "content_hash", "created_at"]



class PairListApi(PaginatedListApi):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=PairOutputSerializer(many=True), summary="A dataset's pairs (admins only)")
    def get(self, request, dataset_id: int):
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        return paginated(queryset=selectors.pairs_of_dataset(dataset=dataset), serializer_class=PairOutputSerializer,
                         request=request, view=self)


class PairDetailApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=PairOutputSerializer, summary="One pair (admins only)")
    def get(self, request, pair_id: int):
        pair = get_object_or_404(Pair.objects.select_related("prompt", "response_a", "response_b"), pk=pair_id)
        return Response(PairOutputSerializer(pair).data)


class JudgementListApi(PaginatedListApi):
    @extend_schema_serializer(component_name="JudgementOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        pair = serializers.IntegerField(source="pair_id")
        labeller = serializers.CharField(source="labeller.user.username")
        choice = serializers.CharField()
        strength = serializers.IntegerField(allow_null=True)
        rationale = serializers.CharField()
        flags = serializers.JSONField()
        shown_left = serializers.CharField()
        time_ms = serializers.IntegerField(allow_null=True)
        created_at = serializers.DateTimeField()
        is_repeat = serializers.BooleanField()
        superseded = serializers.BooleanField()
        revision_of = serializers.IntegerField(source="revision_of_id", allow_null=True)
        source = serializers.CharField()

    @extend_schema(
        responses=OutputSerializer(many=True),
        parameters=[OpenApiParameter("labeller", str, description="Admins: only this labeller's (username)")],
        summary="A dataset's judgements (admins: all; labellers: their own)",
    )
    def get(self, request, dataset_id: int):
        dataset = get_object_or_404(selectors.datasets_visible_to(request.user), pk=dataset_id)
        labeller = text_clean(request.query_params.get("labeller", ""), name="labeller filter",
                              max_chars=get_user_model()._meta.get_field("username").max_length)
        qs = selectors.judgements_visible_to(user=request.user, dataset=dataset, labeller_username=labeller)
        return paginated(queryset=qs, serializer_class=self.OutputSerializer, request=request, view=self)


class ImportOutputSerializer(serializers.ModelSerializer):
    dataset_name = serializers.CharField(source="dataset.name")
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)

    class Meta:
        model = ImportBatch
        fields = ["id", "dataset", "dataset_name", "format", "filename", "status", "n_lines", "n_pairs_created",
                  "n_judgements_created", "n_rating_items_created", "n_ratings_created", "n_duplicates", "errors",
                  "created_by", "created_at", "duration_s"]


class ImportListApi(PaginatedListApi):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=ImportOutputSerializer(many=True),
                   parameters=[OpenApiParameter("dataset", int, description="Only this dataset's imports")],
                   summary="Import history")
    def get(self, request):
        qs = selectors.imports_recent()
        if request.query_params.get("dataset", "").isdigit():
            qs = qs.filter(dataset_id=int(request.query_params["dataset"]))
        return paginated(queryset=qs, serializer_class=ImportOutputSerializer, request=request, view=self)


class ImportDetailApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses=ImportOutputSerializer, summary="One import, with its per-line errors and warnings")
    def get(self, request, import_id: int):
        return Response(ImportOutputSerializer(get_object_or_404(selectors.imports_recent(), pk=import_id)).data)


class ImportCreateApi(APIView):
    permission_classes = [IsArbiterAdmin]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema_serializer(component_name="ImportCreateInput")
    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="JSON Lines, gzip or plain")
        dataset = serializers.CharField(max_length=200, help_text="Dataset name (created if missing)")
        format = serializers.ChoiceField(choices=["auto", *FORMATS, "unpaired"], default="auto",
                                         help_text="unpaired: ratings (prompt, completion, label) into a rate dataset")
        skip_invalid = serializers.BooleanField(default=False)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={201: ImportOutputSerializer, 400: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Bad form fields ({field: [message]}), or a rejected file: "
                        "{detail, errors: [{line, field, message}]}.",
        )},
        summary="Upload a file to import",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            batch = import_file(dataset_name=v["dataset"], file=v["file"], format=v["format"],
                                skip_invalid=v["skip_invalid"], created_by=request.user, filename=v["file"].name)
        except ImportRejected as exc:
            return Response({"detail": exc.message, "errors": [e.as_dict() for e in exc.errors]},
                            status=status.HTTP_400_BAD_REQUEST)
        return Response(ImportOutputSerializer(batch).data, status=status.HTTP_201_CREATED)


class ExportApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="ExportInput")
    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["trl", "judgements", "unpaired"],
                                       help_text="unpaired: a 'rate' dataset's counted ratings (prompt, completion, label)")
        csv = serializers.BooleanField(default=False, help_text="judgements and unpaired: CSV instead of JSON Lines")
        min_agreement = serializers.FloatField(default=0.0, min_value=0, max_value=1, help_text="trl only")

    @extend_schema(parameters=[InputSerializer],
                   responses={(200, "application/jsonl"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR},
                   summary="Download an export (streamed): JSON Lines, or CSV for judgements with csv=true")
    def get(self, request, dataset_id: int) -> StreamingHttpResponse:
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return export_response(dataset, **data.validated_data)


