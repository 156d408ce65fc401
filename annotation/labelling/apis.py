"""The labelling queue over HTTP, for tools and load tests: the same services as the pages.

Session or token auth; only labellers assigned to the dataset. Responses never say which model
wrote a response, nor whether a pair is a planned repeat or a gold check."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.labelling import queue_sql, services
from annotation.labelling.checks import TIME_MS_MAX
from annotation.models import RATIONALE_MAX_CHARS, RESPONSE_FLAGS
from common.authentication import ExpiringTokenAuthentication


class LabellerTokenAuthentication(ExpiringTokenAuthentication):
    """DRF's token auth in one SQL query that also loads the labeller's id: the two queue calls
    run it on every loop, and the ORM's version cost more CPU than the rest of the request."""

    def authenticate_credentials(self, key):
        found = queue_sql.token_user(key=key)
        if found is None or not found[0].is_active:
            return super().authenticate_credentials(key)  # raises DRF's usual error
        self.refuse_expired(found[1])
        return found


class LabellerTokenScheme(OpenApiAuthenticationExtension):
    """Names LabellerTokenAuthentication's scheme apart from DRF's (the same header, `Token <key>`),
    so that the schema does not hold two different "tokenAuth" components."""

    target_class = LabellerTokenAuthentication
    name = "labellerTokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")


class JsonOnly(DefaultContentNegotiation):
    """JSON whatever the client accepts: these endpoints are for tools, and parsing Accept to choose
    among renderers cost every call."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class LabellerApi(APIView):
    # The token first: tools send one on every call, and asking the session first loads it for
    # nothing. A request with neither gets 401 with `WWW-Authenticate: Token`.
    authentication_classes = [LabellerTokenAuthentication, SessionAuthentication]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonOnly

    def labeller(self, request):
        labeller = getattr(request.user, "labeller", None)
        if labeller is None:
            raise PermissionDenied("Your account has no labeller profile.")
        return labeller


DATETIME = serializers.DateTimeField()
_SUBMIT_TYPES = {"choice": (str,), "strength": (int, str, type(None)), "rationale": (str,), "flags": (dict, type(None)),
                 "time_ms": (int, str, type(None)), "idempotency_key": (str,)}


def submit_input(data) -> dict:
    """JudgementSubmitApi.InputSerializer's fields, type-checked without building a serializer
    (submit is on the queue's hot path); the service checks their values against the dataset and
    its error names what is wrong."""
    if not hasattr(data, "get"):
        raise ValidationError({"detail": "Send the judgement as a JSON object."})
    fields = {name: data.get(name) for name in _SUBMIT_TYPES if data.get(name) is not None}
    if "choice" not in fields:
        raise ValidationError({"choice": ["This field is required."]})
    wrong = [name for name, value in fields.items() if not isinstance(value, _SUBMIT_TYPES[name])
             or (name in ("strength", "time_ms") and isinstance(value, bool))]
    if wrong:
        raise ValidationError({name: [f"Not a valid {name} ({type(fields[name]).__name__})."] for name in wrong})
    for side, names in (fields.get("flags") or {}).items():
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise ValidationError({"flags": [f"Flags for response {side} must be a list of names."]})
    return fields


def judgement_output(judgement) -> dict:
    """JudgementSubmitApi.OutputSerializer's fields, written directly (submit is on the hot path)."""
    return {
        "id": judgement.pk, "pair_id": judgement.pair_id, "choice": judgement.choice, "strength": judgement.strength,
        "shown_left": judgement.shown_left, "time_ms": judgement.time_ms,
        "created_at": DATETIME.to_representation(judgement.created_at),
    }


@extend_schema_serializer(component_name="LabellingSide")
class SideSerializer(serializers.Serializer):
    side = serializers.CharField(help_text="'a' or 'b': the pair's side shown in this position.")
    text = serializers.CharField()


@extend_schema_serializer(component_name="LabellingAssignment")
class AssignmentOutputSerializer(serializers.Serializer):
    """A lease of one pair: the conversation, and the two responses in the order shown (left, right)."""

    # AssignmentNextApi writes this shape directly (queue_sql.lease_shown); the class documents it.

    id = serializers.IntegerField()
    pair_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    messages = serializers.JSONField()
    left = SideSerializer()
    right = SideSerializer()


class AssignmentNextApi(LabellerApi):
    """The labeller's current lease in the dataset, or a new one; 204 when nothing is left for them.
    POST only: leasing changes state, which a GET (an image tag on any page) must not."""

    @extend_schema(request=None, responses={200: AssignmentOutputSerializer, 204: None}, operation_id="labelling_next")
    def post(self, request, dataset_id):
        try:
            # The service checks membership under its lock; the response is read in one query
            # and written without a serializer (AssignmentOutputSerializer documents its shape).
            lease = services.assignment_lease(labeller=self.labeller(request), dataset_id=dataset_id)
        except services.NotAssigned as exc:
            raise PermissionDenied(exc.message) from exc
        if lease is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        lease["expires_at"] = DATETIME.to_representation(lease["expires_at"])
        return Response(lease)


@extend_schema_serializer(component_name="LabellingJudgementFields")
class JudgementFieldsSerializer(serializers.Serializer):
    choice = serializers.CharField(help_text="a, b, tie, both_bad (the pair's sides), or left / right as shown.")
    strength = serializers.IntegerField(required=False, allow_null=True,
                                        help_text="A key of the dataset's strength scale (1 to 3), only with a or b.")
    rationale = serializers.CharField(required=False, allow_blank=True, default="", max_length=RATIONALE_MAX_CHARS,
                                      help_text=f"At most {RATIONALE_MAX_CHARS} characters.")
    flags = serializers.DictField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=RESPONSE_FLAGS)), required=False,
        help_text='{"a": ["harmful"], "b": []}',
    )
    time_ms = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=TIME_MS_MAX,
                                       help_text=f"Time on task in ms, 0 to {TIME_MS_MAX} (a day); measured on the "
                                                 "server from the lease's start when absent.")


class JudgementSubmitApi(LabellerApi):
    @extend_schema_serializer(component_name="LabellingJudgementSubmitInput")
    class InputSerializer(JudgementFieldsSerializer):
        idempotency_key = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=services.IDEMPOTENCY_KEY_MAX,
            help_text=f"A retried request with the same key returns the first judgement. At most "
                      f"{services.IDEMPOTENCY_KEY_MAX} characters.",
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
        judgement = services.judgement_submit(
            labeller=self.labeller(request), assignment_id=assignment_id, **submit_input(request.data)
        )
        return Response(judgement_output(judgement), status=status.HTTP_201_CREATED)


class AssignmentSkipApi(LabellerApi):
    @extend_schema_serializer(component_name="LabellingSkipInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(
            max_length=services.SKIP_REASON_MAX,
            help_text=f"Why the pair is skipped: 1 to {services.SKIP_REASON_MAX} characters.",
        )

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

