"""Writes of the audit: excluding a labeller (or a time range of theirs) from training data, and
revoking that. Exports and reward-model data selection read annotation.selectors.judgements_counted,
which leaves out judgements covered by an active exclusion."""
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from annotation.models import Dataset, Labeller, LabellerExclusion
from common.exceptions import ApplicationError


@transaction.atomic
def exclusion_create(
    *,
    labeller: Labeller,
    dataset: Dataset | None,
    start: datetime | None = None,
    end: datetime | None = None,
    reason: str,
    created_by,
) -> LabellerExclusion:
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("An exclusion needs a reason: say why this labeller's judgements are left out.")
    for name, value in (("start", start), ("end", end)):
        if value is not None and timezone.is_naive(value):
            raise ApplicationError(f"The {name} of the excluded range needs a time zone.")
    if start is not None and end is not None and start >= end:
        raise ApplicationError("The start of the excluded range must be before its end.")
    duplicate = LabellerExclusion.objects.filter(
        labeller=labeller, dataset=dataset, start=start, end=end, revoked_at__isnull=True
    ).exists()
    if duplicate:
        raise ApplicationError("The same exclusion is already active for this labeller.")
    return LabellerExclusion.objects.create(
        labeller=labeller, dataset=dataset, start=start, end=end, reason=reason, created_by=created_by
    )


@transaction.atomic
def exclusion_revoke(*, exclusion_id: int, revoked_by, reason: str = "") -> LabellerExclusion:
    """Ends an exclusion; the judgements it covered count again. The row stays, with who revoked
    it, when and why, so the record of both decisions is kept."""
    exclusion = LabellerExclusion.objects.select_for_update().filter(pk=exclusion_id).first()
    if exclusion is None:
        raise ApplicationError(f"There is no exclusion {exclusion_id}.")
    if exclusion.revoked_at is not None:
        raise ApplicationError("This exclusion was already revoked.")
    exclusion.revoked_at = timezone.now()
    exclusion.revoked_by = revoked_by if getattr(revoked_by, "pk", None) else None
    exclusion.revoke_reason = reason.strip()
    exclusion.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    return exclusion
