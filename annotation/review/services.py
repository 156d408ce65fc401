"""Writes of review: giving and taking the reviewer role, and a reviewer's decision on a pair.

A decision never changes a judgement: it is a row of its own (ReviewDecision) with the reviewer,
the time and the reason. Sending a pair back raises its `extra_overlap` under the pair's row lock
(the lock the queue takes before it hands out a slot), so the queue leases it again."""
from django.db import transaction

from annotation.models import (
    OVERLAP_K_MAX, RATIONALE_MAX_CHARS, Choice, Dataset, DatasetReviewer, Labeller, Pair, ReviewDecision,
)
from annotation.review.selectors import can_review
from common.exceptions import ApplicationError
from common.permissions import is_arbiter_admin
from common.validation import text_clean

SEND_BACK_MAX = 10
"""At most this many more judgements asked for at once."""


class NotReviewer(ApplicationError):
    """The user may not review this dataset (the API answers 403)."""


@transaction.atomic
def reviewer_grant(*, dataset: Dataset, labeller: Labeller, granted_by) -> DatasetReviewer:
    """Gives a labeller the reviewer role on the dataset (idempotent). Admins only."""
    if not is_arbiter_admin(granted_by):
        raise NotReviewer("Only admins can give the reviewer role.")
    if labeller.kind != Labeller.Kind.HUMAN:
        raise ApplicationError("Only people can review: this labeller is a model.")
    reviewer, _ = DatasetReviewer.objects.get_or_create(dataset=dataset, labeller=labeller,
                                                        defaults={"granted_by": granted_by})
    return reviewer


@transaction.atomic
def reviewer_revoke(*, dataset: Dataset, labeller: Labeller, revoked_by) -> None:
    if not is_arbiter_admin(revoked_by):
        raise NotReviewer("Only admins can take the reviewer role away.")
    deleted, _ = DatasetReviewer.objects.filter(dataset=dataset, labeller=labeller).delete()
    if not deleted:
        raise ApplicationError(f"{labeller} is not a reviewer of {dataset}.")


@transaction.atomic
def review_decide(
    *,
    pair_id: int,
    reviewer,
    action: str,
    choice: str = "",
    reason: str = "",
    extra_judgements: int = 0,
    listed_for: list | None = None,
) -> ReviewDecision:
    """Records a reviewer's decision on a pair: `accept` (the labellers' majority stands),
    `override` (with `choice` and a `reason`) or `send_back` (asks for `extra_judgements` more
    judgements: the queue leases the pair again until it has them)."""
    pair = Pair.objects.select_for_update().select_related("dataset").filter(pk=pair_id).first()
    if pair is None:
        raise ApplicationError(f"There is no pair {pair_id}.")
    if not can_review(user=reviewer, dataset=pair.dataset):
        raise NotReviewer(f"You are not a reviewer of {pair.dataset.name}.")
    reason = text_clean(reason or "", name="reason", max_chars=RATIONALE_MAX_CHARS).strip()
    if action not in ReviewDecision.Action.values:
        raise ApplicationError(f"Unknown action {action!r}: accept, override or send_back.")
    if action == ReviewDecision.Action.OVERRIDE:
        if choice not in Choice.values or choice not in pair.dataset.choices:
            allowed = ", ".join(c for c in Choice.values if c in pair.dataset.choices)
            raise ApplicationError(f"An override needs a choice this dataset allows: {allowed}.")
        if not reason:
            raise ApplicationError("An override needs a reason: say why the labellers' answer is wrong.")
    elif choice:
        raise ApplicationError("Only an override records a choice.")
    if action == ReviewDecision.Action.SEND_BACK:
        if not 1 <= extra_judgements <= SEND_BACK_MAX:
            raise ApplicationError(f"Ask for 1 to {SEND_BACK_MAX} more judgements.")
        _raise_overlap(pair, extra_judgements)
    elif extra_judgements:
        raise ApplicationError("Only sending a pair back asks for more judgements.")
    return ReviewDecision.objects.create(
        pair=pair, reviewer=reviewer, action=action, choice=choice, reason=reason,
        extra_judgements=extra_judgements if action == ReviewDecision.Action.SEND_BACK else 0,
        listed_for=listed_for or [],
    )


def _raise_overlap(pair: Pair, more: int) -> None:
    """Opens `more` slots beyond what the pair already has or wants: the pair then wants
    max(overlap_k + extra_overlap, n_judgements) + more judgements. The caller holds its row lock."""
    wanted = max(pair.dataset.overlap_k + pair.extra_overlap, pair.n_judgements) + more
    extra = wanted - pair.dataset.overlap_k
    if extra > OVERLAP_K_MAX:
        raise ApplicationError(f"This pair already asks for {pair.extra_overlap} judgements beyond the dataset's "
                               f"overlap; at most {OVERLAP_K_MAX} extra are allowed.")
    pair.extra_overlap = extra
    pair.save(update_fields=["extra_overlap"])
