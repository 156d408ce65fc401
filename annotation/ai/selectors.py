"""Reads for AI labellers and their runs."""
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from annotation.models import AILabeller, AILabelRun, Constitution, Judgement, Labeller, Pair


def ai_labeller_list() -> QuerySet[AILabeller]:
    return AILabeller.objects.select_related("labeller__user", "constitution", "reward_run").order_by("labeller__user__username")


def constitution_list() -> QuerySet[Constitution]:
    return Constitution.objects.all()


def ai_label_run_list() -> QuerySet[AILabelRun]:
    return AILabelRun.objects.select_related("ai_labeller__labeller__user", "dataset").order_by("-created_at")


def pairs_to_judge(*, run: AILabelRun) -> QuerySet[Pair]:
    """The run's dataset's pairs (or those of them in run.pair_ids) its labeller has not judged
    yet, in id order; with below_human_k,
    only those with fewer than that many human judgements (first judgements, not superseded)."""
    judged = Judgement.objects.filter(pair=OuterRef("pk"), labeller=run.ai_labeller.labeller_id, is_repeat=False,
                                      revision_of__isnull=True)
    pairs = Pair.objects.filter(dataset=run.dataset_id).exclude(Exists(judged))
    if run.pair_ids:
        pairs = pairs.filter(pk__in=run.pair_ids)
    if run.below_human_k is not None:
        human = Q(judgements__labeller__kind=Labeller.Kind.HUMAN, judgements__is_repeat=False,
                  judgements__superseded=False)
        pairs = pairs.annotate(n_human=Count("judgements", filter=human)).filter(n_human__lt=run.below_human_k)
    return pairs.select_related("prompt", "response_a", "response_b").order_by("id")


def ai_judgements(*, labeller: Labeller, dataset=None) -> QuerySet[Judgement]:
    judgements = Judgement.objects.filter(labeller=labeller).select_related("pair")
    return judgements.filter(pair__dataset=dataset) if dataset is not None else judgements
