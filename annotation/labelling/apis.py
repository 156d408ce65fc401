"""The labelling queue over HTTP, for tools and load tests: the same services as the pages.

Session or token auth; only labellers assigned to the dataset. Responses never say which model
wrote a response, nor whether a pair is a planned repeat or a gold check."""
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.labelling import services
from annotation.models import RESPONSE_FLAGS, Dataset


class LabellerTokenAuthentication(TokenAuthentication):
    """DRF's token auth, loading the labeller profile in the same query (one query less per call)."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        token = model.objects.select_related("user__labeller").filter(key=key).first()
        if token is None:
            return super().authenticate_credentials(key)  # raises DRF's usual error
        if not token.user.is_active:
            return super().authenticate_credentials(key)
        return token.user, token


class LabellerApi(APIView):
    authentication_classes = [SessionAuthentication, LabellerTokenAuthentication]

    def labeller(self, request):
        labeller = getattr(request.user, "labeller", None)
        if labeller is None:
            raise PermissionDenied("Your account has no labeller profile.")
        return labeller


@extend_schema_serializer(component_name="LabellingSide")
class SideSerializer(serializers.Serializer):
    side = serializers.CharField(help_text="'a' or 'b': the pair's side shown in this position.")
    text = serializers.CharField()


@extend_schema_serializer(component_name="LabellingAssignment")
class AssignmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    pair_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    messages = serializers.JSONField(source="pair.prompt.messages")
    left = serializers.SerializerMethodField()
    right = serializers.SerializerMethodField()

    def _side(self, lease, side) -> dict:
        response = lease.pair.response_a if side == "a" else lease.pair.response_b
        return {"side": side, "text": response.text}

    @extend_schema(responses=SideSerializer)
    def get_left(self, lease) -> dict:
        return self._side(lease, lease.shown_left)

    @extend_schema(responses=SideSerializer)
    def get_right(self, lease) -> dict:
        return self._side(lease, "b" if lease.shown_left == "a" else "a")


class AssignmentNextApi(LabellerApi):
    """The labeller's current lease in the dataset, or a new one; 204 when nothing is left for them."""

    @extend_schema(request=None, responses={200: AssignmentOutputSerializer, 204: None}, operation_id="labelling_next")
    def post(self, request, dataset_id):
        try:
            # The service loads the dataset itself, with the lock that checks membership.
            lease = services.assignment_next(labeller=self.labeller(request), dataset=Dataset(pk=dataset_id))
        except services.NotAssigned as exc:
            raise PermissionDenied(exc.message) from exc
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AssignmentOutputSerializer(lease).data)

    @extend_schema(request=None, responses={200: AssignmentOutputSerializer, 204: None}, operation_id="labelling_next_get")
    def get(self, request, dataset_id):
        return self.post(request, dataset_id)


@extend_schema_serializer(component_name="LabellingJudgementFields")
class JudgementFieldsSerializer(serializers.Serializer):
    choice = serializers.CharField(help_text="a, b, tie, both_bad (the pair's sides), or left / right as shown.")
    strength = serializers.IntegerField(required=False, allow_null=True)
    rationale = serializers.CharField(required=False, allow_blank=True, default="")
    flags = serializers.DictField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=RESPONSE_FLAGS)), required=False,
        help_text='{"a": ["harmful"], "b": []}',
    )
    time_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class JudgementSubmitApi(LabellerApi):
    @extend_schema_serializer(component_name="LabellingJudgementSubmitInput")
    class InputSerializer(JudgementFieldsSerializer):
        idempotency_key = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=100,
            help_text="A retried request with the same key returns the first judgement.",
        )

    @extend_schema_serializer(component_name="LabellingJudgement")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        pair_id = serializers.IntegerField()
        choice = serializers.CharField()
        strength = serializers.IntegerField(allow_null=True)
        shown_left = serializers.CharField()
        time_ms = serializers.IntegerField(allow_null=True)
        created_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer}, operation_id="labelling_judgement_submit")
    def post(self, request, assignment_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        judgement = services.judgement_submit(
            labeller=self.labeller(request), assignment_id=assignment_id, **data.validated_data
        )
        return Response(self.OutputSerializer(judgement).data, status=status.HTTP_201_CREATED)


class AssignmentSkipApi(LabellerApi):
    @extend_schema_serializer(component_name="LabellingSkipInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=200)

    @extend_schema(request=InputSerializer, responses={204: None}, operation_id="labelling_assignment_skip")
    def post(self, request, assignment_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.assignment_skip(labeller=self.labeller(request), assignment_id=assignment_id, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JudgementReviseApi(LabellerApi):
    @extend_schema_serializer(component_name="LabellingJudgementReviseInput")
    class InputSerializer(JudgementFieldsSerializer):
        pass

    @extend_schema(request=InputSerializer, responses={201: JudgementSubmitApi.OutputSerializer},
                   operation_id="labelling_judgement_revise")
    def post(self, request, judgement_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        judgement = services.judgement_revise(
            labeller=self.labeller(request), judgement_id=judgement_id, **data.validated_data
        )
        return Response(JudgementSubmitApi.OutputSerializer(judgement).data, status=status.HTTP_201_CREATED)

