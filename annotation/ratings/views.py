"""The labeller's "rate one response" page (full page or htmx partial), like the comparison page:
only a POST leases; the rating and skip forms swap the next response in place (htmx) or
post/redirect/get without JavaScript."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from annotation.labelling.views import ASKED, FLAG_LABELS, _dataset, _labeller
from annotation.models import RATIONALE_MAX_CHARS, RESPONSE_FLAGS, Dataset
from annotation.ratings import selectors, services
from common.exceptions import ApplicationError

RATE = "annotation/ratings/rate.html"
FLAGS = [(name, FLAG_LABELS.get(name, name)) for name in RESPONSE_FLAGS]


def rate_dataset(labeller, dataset_id) -> Dataset:
    dataset = _dataset(labeller, dataset_id)
    if dataset.mode != Dataset.Mode.RATE:
        raise Http404("This dataset is for comparing pairs, not rating single responses.")
    return dataset


def rating_fields(post) -> dict:
    """label (up/down), rationale, flags and time_ms as posted by the rating form."""
    return {"label": post.get("label", ""), "rationale": post.get("rationale", ""),
            "flags": post.getlist("flags"), "time_ms": post.get("time_ms") or None}


def _render_work(request, *, labeller, dataset, error=""):
    if request.method == "POST":
        lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    else:
        lease = selectors.rating_lease_current(labeller=labeller, dataset=dataset)
    context = {
        "dataset": dataset, "lease": lease, "asked": request.method == "POST" or ASKED in request.GET,
        "error": error, "rationale_max_chars": RATIONALE_MAX_CHARS, "flags": FLAGS,
        "progress": selectors.rating_progress(labeller=labeller, dataset=dataset),
        "recent": selectors.ratings_recent(labeller=labeller, dataset=dataset),
        "response": lease.item.response if lease else None,
    }
    return render(request, RATE + "#work" if request.htmx else RATE, context)


def _after_post(request, *, labeller, dataset, error, success=""):
    if request.htmx:
        return _render_work(request, labeller=labeller, dataset=dataset, error=error)
    lease = services.rating_lease_next(labeller=labeller, dataset_id=dataset.pk)
    if error:
        messages.error(request, error)
    elif success:
        messages.success(request, success)
    url = reverse("ratings:rate", kwargs={"dataset_id": dataset.pk})
    return redirect(url if lease else f"{url}?{ASKED}")


@require_http_methods(["GET", "POST"])
@login_required
def rate(request, dataset_id):
    """GET: the page with the current lease; POST: leases the next response."""
    labeller = _labeller(request)
    dataset = rate_dataset(labeller, dataset_id)
    if request.method == "POST":
        return _after_post(request, labeller=labeller, dataset=dataset, error="")
    return _render_work(request, labeller=labeller, dataset=dataset)


@require_POST
@login_required
def submit(request, dataset_id, assignment_id):
    labeller = _labeller(request)
    dataset = rate_dataset(labeller, dataset_id)
    error = ""
    try:
        services.rating_submit(labeller=labeller, assignment_id=assignment_id,
                               idempotency_key=request.POST.get("idempotency_key", ""), **rating_fields(request.POST))
    except ApplicationError as exc:
        error = exc.message
    return _after_post(request, labeller=labeller, dataset=dataset, error=error)


@require_POST
@login_required
def skip(request, dataset_id, assignment_id):
    labeller = _labeller(request)
    dataset = rate_dataset(labeller, dataset_id)
    error = ""
    try:
        services.rating_lease_skip(labeller=labeller, assignment_id=assignment_id, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        error = exc.message
    return _after_post(request, labeller=labeller, dataset=dataset, error=error, success="Skipped.")


@require_http_methods(["GET", "POST"])
@login_required
def revise(request, dataset_id, rating_id):
    labeller = _labeller(request)
    dataset = rate_dataset(labeller, dataset_id)
    original = selectors.rating_for_revision(labeller=labeller, rating_id=rating_id)
    if original is None or original.item.dataset_id != dataset.pk:
        raise Http404("No such current rating of yours in this dataset.")
    error = ""
    if request.method == "POST":
        try:
            services.rating_revise(labeller=labeller, rating_id=rating_id, **rating_fields(request.POST))
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, f"Rating of response {original.item_id} revised; the original is kept.")
            return redirect(reverse("ratings:rate", kwargs={"dataset_id": dataset.pk}))
    return render(request, "annotation/ratings/revise.html", {
        "dataset": dataset, "original": original, "response": original.item.response, "error": error,
        "rationale_max_chars": RATIONALE_MAX_CHARS, "flags": FLAGS,
    })
