"""The rating queue over HTTP: the same services as the "rate one response" page, with the same
auth as the comparison queue's API (token or session; only labellers assigned to the dataset).
Responses never say which model wrote the response, nor whether it is a repeat or a gold check."""
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from annotation.labelling.apis import LabellerApi
from annotation.labelling.checks import TIME_MS_MAX
from annotation.models import RATIONALE_MAX_CHARS, RESPONSE_FLAGS
from annotation.ratings import services
from annotation.ratings.selectors import rating_lease_shown


@extend_schema_serializer(component_name="RatingAssignment")
class RatingLeaseOutputSerializer(serializers.Serializer):
    """A lease of one response: the conversation (`prompt`, a list of {role, content}) and the response."""

    id = serializers.IntegerField()
    item_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    prompt = serializers.JSONField()
    response = serializers.CharField()


@extend_schema_serializer(component_name="Rating")
class RatingOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item_id = serializers.IntegerField()
    label = serializers.BooleanField(help_text="true: thumbs up; false: thumbs down.")
    flags = serializers.ListField(child=serializers.CharField())
    time_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class RatingFieldsSerializer(serializers.Serializer):
    label = serializers.BooleanField(help_text="true (or \"up\"): thumbs up; false (\"down\"): thumbs down.")
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=RATIONALE_MAX_CHARS,
                                      help_text=f"At most {RATIONALE_MAX_CHARS} characters.")
    flags = serializers.ListField(child=serializers.ChoiceField(choices=RESPONSE_FLAGS), required=False, default=list,
                                  help_text='e.g. ["harmful"]')
    time_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=TIME_MS_MAX,
                                       help_text="Time on task in ms; measured from the lease's start when absent.")

    def to_internal_value(self, data):
        if hasattr(data, "get") and isinstance(data.get("label"), str) and data["label"].lower() in ("up", "down"):
            data = {**data, "label": data["label"].lower() == "up"}
        return super().to_internal_value(data)


class RatingNextApi(LabellerApi):
    """The labeller's current rating lease in the dataset, or a new one; 204 when nothing is left.
    POST only: leasing changes state."""

    @extend_schema(request=None, responses={200: RatingLeaseOutputSerializer, 204: None}, operation_id="ratings_next")
    def post(self, request, dataset_id):
        try:
            lease = services.rating_lease_next(labeller=self.labeller(request), dataset_id=dataset_id)
        except services.NotAssigned as exc:
            raise PermissionDenied(exc.message) from exc
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(RatingLeaseOutputSerializer(rating_lease_shown(lease)).data)


class RatingSubmitApi(LabellerApi):
    @extend_schema_serializer(component_name="RatingSubmitInput")
    class InputSerializer(RatingFieldsSerializer):
        idempotency_key = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=services.IDEMPOTENCY_KEY_MAX,
            help_text="A retried request with the same key returns the first rating.")

    @extend_schema(request=InputSerializer, responses={201: RatingOutputSerializer}, operation_id="ratings_submit")
    def post(self, request, assignment_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.rating_submit(labeller=self.labeller(request), assignment_id=assignment_id,
                                        **data.validated_data)
        return Response(RatingOutputSerializer(rating).data, status=status.HTTP_201_CREATED)


class RatingSkipApi(LabellerApi):
    @extend_schema_serializer(component_name="RatingSkipInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=services.SKIP_REASON_MAX,
                                       help_text=f"Why: 1 to {services.SKIP_REASON_MAX} characters.")

    @extend_schema(request=InputSerializer, responses={204: None}, operation_id="ratings_skip")
    def post(self, request, assignment_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.rating_lease_skip(labeller=self.labeller(request), assignment_id=assignment_id, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RatingReviseApi(LabellerApi):
    @extend_schema_serializer(component_name="RatingReviseInput")
    class InputSerializer(RatingFieldsSerializer):
        pass

    @extend_schema(request=InputSerializer, responses={201: RatingOutputSerializer}, operation_id="ratings_revise")
    def post(self, request, rating_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.rating_revise(labeller=self.labeller(request), rating_id=rating_id, **data.validated_data)
        return Response(RatingOutputSerializer(rating).data, status=status.HTTP_201_CREATED)
