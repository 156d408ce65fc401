"""The review API: a dataset's review queue, decisions on a pair, and the judgement and pair
search with the search page's query parameters. Admins, and labellers with the reviewer role on
the dataset."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.dataio.apis import JudgementListApi, PaginatedListApi, PairOutputSerializer, paginated
from annotation.models import Choice, Dataset, Labeller, ReviewDecision
from annotation.review import search as search_selectors, selectors, services
from annotation.review.forms import QueueFilterForm, SearchForm
from common.permissions import IsArbiterAdmin


def _dataset(request, dataset_id: int) -> Dataset:
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    if not selectors.can_review(user=request.user, dataset=dataset):
        raise PermissionDenied("You are not a reviewer of this dataset.")
    return dataset


@extend_schema_serializer(component_name="ReviewDecision")
class DecisionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    pair = serializers.IntegerField(source="pair_id")
    reviewer = serializers.CharField(source="reviewer.username")
    action = serializers.CharField()
    choice = serializers.CharField(help_text="The override's choice; blank for accept and send back.")
    reason = serializers.CharField()
    extra_judgements = serializers.IntegerField()
    listed_for = serializers.JSONField()
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="ReviewQueueItem")
class QueueItemSerializer(serializers.Serializer):
    pair = serializers.IntegerField(source="pair_id")
    priority = serializers.FloatField()
    reasons = serializers.JSONField(help_text="[{kind, label, text}], most important first")
    reviewed = serializers.BooleanField()
    decision = DecisionOutputSerializer(allow_null=True)


class ReviewQueueApi(PaginatedListApi):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("show", str, enum=list(selectors.SHOW), description="open (default), reviewed, all"),
                    OpenApiParameter("kind", str, enum=list(selectors.KINDS), description="Only pairs listed for this")],
        responses=QueueItemSerializer(many=True), summary="A dataset's review queue, highest priority first",
    )
    def get(self, request, dataset_id: int):
        dataset = _dataset(request, dataset_id)
        form = QueueFilterForm(request.query_params)
        if not form.is_valid():
            raise serializers.ValidationError(form.errors)
        items = selectors.review_queue(dataset=dataset, show=form.cleaned_data["show"] or "open",
                                       kind=form.cleaned_data["kind"])
        return paginated(queryset=items, serializer_class=QueueItemSerializer, request=request, view=self)


class DecisionCreateApi(PaginatedListApi):
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="ReviewDecisionInput")
    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=ReviewDecision.Action.values)
        choice = serializers.ChoiceField(choices=Choice.values, required=False, allow_blank=True, default="",
                                         help_text="Required for an override.")
        reason = serializers.CharField(required=False, allow_blank=True, default="",
                                       help_text="Required for an override.")
        extra_judgements = serializers.IntegerField(required=False, default=0,
                                                    help_text="Send back: how many more judgements (1 to 10).")

    @extend_schema(responses=DecisionOutputSerializer(many=True), summary="A pair's decisions, newest first")
    def get(self, request, dataset_id: int, pair_id: int):
        dataset = _dataset(request, dataset_id)
        pair = get_object_or_404(dataset.pairs, pk=pair_id)
        return paginated(queryset=selectors.pair_decisions(pair=pair), serializer_class=DecisionOutputSerializer,
                         request=request, view=self)

    @extend_schema(request=InputSerializer, responses={201: DecisionOutputSerializer},
                   summary="Accept, override (choice and reason) or send a pair back for more judgements")
    def post(self, request, dataset_id: int, pair_id: int):
        dataset = _dataset(request, dataset_id)
        pair = get_object_or_404(dataset.pairs, pk=pair_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = selectors.review_items(dataset=dataset, pair_ids=[pair.pk]).get(pair.pk)
        decision = services.review_decide(pair_id=pair.pk, reviewer=request.user,
                                          listed_for=item.reasons if item else [], **data.validated_data)
        return Response(DecisionOutputSerializer(decision).data, status=status.HTTP_201_CREATED)


SEARCH_PARAMETERS = [
    OpenApiParameter("dataset", int, description="Only this dataset (default: every dataset you review)"),
    OpenApiParameter("labeller", str, description="Username"),
    OpenApiParameter("choice", str, enum=Choice.values),
    OpenApiParameter("since", str, description="From this day (UTC), YYYY-MM-DD"),
    OpenApiParameter("until", str, description="Up to and including this day (UTC), YYYY-MM-DD"),
    OpenApiParameter("flagged", str, enum=["yes", "no"], description="A labeller flagged a response (or not)"),
    OpenApiParameter("q", str, description="Text in the prompt, either response or the rationale"),
]


def _search_filters(request):
    form = SearchForm(request.query_params)
    if not form.is_valid():
        raise serializers.ValidationError(form.errors)
    dataset_ids = list(selectors.datasets_reviewable_by(user=request.user).values_list("pk", flat=True))
    dataset = form.cleaned_data.get("dataset")
    if dataset and dataset not in dataset_ids:
        raise PermissionDenied("You are not a reviewer of this dataset.")
    return form.filters(dataset_ids=dataset_ids)


@extend_schema_serializer(component_name="JudgementSearchResult")
class JudgementSearchSerializer(JudgementListApi.OutputSerializer):
    dataset = serializers.IntegerField(source="pair.dataset_id")


class JudgementSearchApi(PaginatedListApi):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=SEARCH_PARAMETERS, responses=JudgementSearchSerializer(many=True),
                   summary="Search judgements (the review search page's filters), newest first")
    def get(self, request):
        qs = search_selectors.judgements_search(filters=_search_filters(request))
        return paginated(queryset=qs, serializer_class=JudgementSearchSerializer, request=request, view=self)


class PairSearchApi(PaginatedListApi):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=SEARCH_PARAMETERS, responses=PairOutputSerializer(many=True),
                   summary="Search pairs: text in the prompt or responses, or a judgement matching the filters")
    def get(self, request):
        qs = search_selectors.pairs_search(filters=_search_filters(request))
        return paginated(queryset=qs, serializer_class=PairOutputSerializer, request=request, view=self)


class ReviewersApi(APIView):
    """Admins: who holds the reviewer role on a dataset; give it to one labeller."""

    permission_classes = [IsArbiterAdmin]

    @extend_schema_serializer(component_name="ReviewerInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)

    @extend_schema_serializer(component_name="Reviewers")
    class OutputSerializer(serializers.Serializer):
        reviewers = serializers.ListField(child=serializers.CharField())

    def _out(self, dataset):
        names = [r.labeller.user.username for r in selectors.reviewers_of(dataset=dataset)]
        return self.OutputSerializer({"reviewers": names}).data

    @extend_schema(responses=OutputSerializer, summary="The labellers with the reviewer role on a dataset")
    def get(self, request, dataset_id: int):
        return Response(self._out(get_object_or_404(Dataset, pk=dataset_id)))

    @extend_schema(request=InputSerializer, responses=OutputSerializer,
                   summary="Give one labeller the reviewer role on a dataset (idempotent)")
    def post(self, request, dataset_id: int):
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        labeller = Labeller.objects.filter(user__username=data.validated_data["username"]).first()
        if labeller is None:
            raise serializers.ValidationError({"username": "No labeller with that username."})
        services.reviewer_grant(dataset=dataset, labeller=labeller, granted_by=request.user)
        return Response(self._out(dataset))


class ReviewerRemoveApi(APIView):
    permission_classes = [IsArbiterAdmin]

    @extend_schema(responses={204: None}, summary="Take the reviewer role on a dataset from one labeller")
    def delete(self, request, dataset_id: int, username: str):
        dataset = get_object_or_404(Dataset, pk=dataset_id)
        labeller = get_object_or_404(Labeller, user__username=username)
        services.reviewer_revoke(dataset=dataset, labeller=labeller, revoked_by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
