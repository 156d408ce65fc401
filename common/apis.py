from django.conf import settings as django_settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views.defaults import page_not_found
from django.views.defaults import server_error as django_server_error
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from common.exceptions import ApplicationError
from common.services import token_issue


def not_found(request, exception):
    """Django's 404 for an URL that matches no route: JSON under /api/, as the API's own 404s are."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def server_error(request):
    """Django's 500: JSON under /api/ (with no detail: those stay in the server's log)."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error."}, status=500)
    return django_server_error(request)


def exception_handler(exc, context):
    """DRF's handler, plus domain and model validation errors turned into 400s with their message."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "message_dict") else exc.messages)
    if isinstance(exc, ApplicationError):
        exc = exceptions.ValidationError({"detail": exc.message, **exc.extra})
    return drf_exception_handler(exc, context)


ERROR_DETAIL = inline_serializer("ErrorDetail", {"detail": serializers.CharField()})


class ArbiterAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus:

    - operation ids that read like the URLs: a POST or PATCH to an action's own path
      (`/api/datasets/create/`, `/api/reward-runs/{id}/cancel/`) is named by the path alone
      ("datasets_create"), without the "_create"/"_partial_update" DRF's method would add;
    - the error answers DRF gives every view, where they can happen: 400 (bad input), 401 and 403
      (no or insufficient credentials), 404 (an id in the path that does not exist), 429 (rate limit).
      An operation's own documentation of a code wins."""

    def get_operation_id(self):
        operation_id = super().get_operation_id()
        if self.method in ("POST", "PATCH") and not self.path.rstrip("/").endswith("}"):
            return operation_id.removesuffix("_create").removesuffix("_partial_update")
        return operation_id

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, response in self._error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, ["application/json"], direction)
        return responses

    def _error_responses(self) -> dict:
        errors = {}
        if self.method in ("POST", "PUT", "PATCH") or self._get_filter_parameters() or self.get_override_parameters():
            errors["400"] = OpenApiResponse(OpenApiTypes.OBJECT, description="Bad input: {field: [message]} or {detail}.")
        if self.view.permission_classes:
            errors["401"] = OpenApiResponse(ERROR_DETAIL, description="No valid credentials (token or session).")
            errors["403"] = OpenApiResponse(ERROR_DETAIL, description="Not allowed for this account.")
        if "{" in self.path:
            errors["404"] = OpenApiResponse(ERROR_DETAIL, description="No such object (or not visible to you).")
        if self.view.throttle_classes:
            errors["429"] = OpenApiResponse(ERROR_DETAIL, description="Over the rate limit, or locked out.")
        return errors


class LockedOut(exceptions.APIException):
    status_code = 429
    default_code = "locked_out"


class TokenObtainApi(ObtainAuthToken):
    """POST username and password, get the account's API token (a new one if the old has expired).

    django-axes counts failures here as on the login page; the anonymous rate limit applies."""

    authentication_classes = []  # a login: no session, so no CSRF check either
    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Wrong username or password: {field: [message]}."),
            429: OpenApiResponse(ERROR_DETAIL, description="Locked out after failed logins, or over the rate limit."),
        },
        summary="Get an API token for a username and password",
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False):  # set by axes' backend on this request
                raise LockedOut(django_settings.AXES_COOLOFF_MESSAGE)
            raise exceptions.ValidationError(serializer.errors)
        return Response({"token": token_issue(user=serializer.validated_data["user"]).key})


@extend_schema_serializer(component_name="TrainingStep")
class StepOutputSerializer(serializers.Serializer):
    """One logged training step of a run (reward model or policy), as the runs' APIs list them."""

    step = serializers.IntegerField()
    metrics = serializers.DictField(help_text="TRL-style metric names to values, e.g. {\"loss\": 0.69}")
