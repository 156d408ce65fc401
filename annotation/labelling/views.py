"""The labeller's pages: their datasets, the comparison page (full page or htmx partial), revision."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.labelling import selectors, services
from annotation.labelling.forms import judgement_fields
from annotation.models import RATIONALE_MAX_CHARS, RESPONSE_FLAGS, Dataset
from common.exceptions import ApplicationError

COMPARE = "annotation/labelling/compare.html"
# In the page's URL after a POST that found no pair for the labeller: the page then says so.
ASKED = "asked"
FLAG_LABELS = {"harmful": "Harmful", "factually_wrong": "Factually wrong", "unhelpful_refusal": "Unhelpful refusal",
               "off_topic": "Off topic"}


def _labeller(request):
    labeller = getattr(request.user, "labeller", None)
    if labeller is None:
        raise PermissionDenied("Your account has no labeller profile; ask an admin.")
    return labeller


def _dataset(labeller, dataset_id):
    dataset = selectors.dataset_for_labeller(labeller=labeller, dataset_id=dataset_id)
    if dataset is None:
        raise Http404("No such dataset among those you are assigned to.")
    return dataset


def _side(pair, side, flags=None):
    response = pair.response_a if side == "a" else pair.response_b
    return {"side": side, "response": response, "checked": (flags or {}).get(side, [])}


def _work_context(*, labeller, dataset, lease, asked, error=""):
    """Everything the `work` partial shows: the leased pair in its left/right order (or, with none,
    a button to ask for one, or word that none is left when `asked`), progress and the labeller's
    recent judgements."""
    context = {
        "dataset": dataset, "lease": lease, "asked": asked, "error": error, "rationale_max_chars": RATIONALE_MAX_CHARS,
        "progress": selectors.labeller_progress(labeller=labeller, dataset=dataset),
        "recent": selectors.judgements_recent(labeller=labeller, dataset=dataset),
        "strengths": sorted(dataset.strength_scale.items()),
        "flags": [(name, FLAG_LABELS.get(name, name)) for name in RESPONSE_FLAGS],
    }
    if lease is not None:
        right = "b" if lease.shown_left == "a" else "a"
        context.update(left=_side(lease.pair, lease.shown_left), right=_side(lease.pair, right))
    return context


def _render_work(request, *, labeller, dataset, error=""):
    """The page, or its `work` partial for htmx. Only a POST leases a pair (a lease is a state
    change: a GET, which any page can trigger with an image tag, must not take one); a GET shows
    the labeller's current lease, or a button that asks for one."""
    if request.method == "POST":
        lease = services.assignment_next(labeller=labeller, dataset=dataset)
    else:
        lease = selectors.lease_current(labeller=labeller, dataset=dataset)
    asked = request.method == "POST" or ASKED in request.GET
    template = COMPARE + "#work" if request.htmx else COMPARE
    context = _work_context(labeller=labeller, dataset=dataset, lease=lease, asked=asked, error=error)
    return render(request, template, context)


@require_GET
@login_required
def dataset_list(request):
    from annotation.ratings.selectors import rating_progress

    labeller = getattr(request.user, "labeller", None)  # none: the page says to ask an admin
    rows = [
        (dataset, (rating_progress if dataset.mode == Dataset.Mode.RATE else selectors.labeller_progress)(
            labeller=labeller, dataset=dataset))
        for dataset in (selectors.datasets_for_labeller(labeller=labeller) if labeller else [])
    ]
    return render(request, "annotation/labelling/datasets.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@login_required
def compare(request, dataset_id):
    """GET: the page with the current lease; POST: leases the next pair (htmx: swapped in place;
    without JS: back to the page, which shows it)."""
    labeller = _labeller(request)
    dataset = _dataset(labeller, dataset_id)
    if dataset.mode == Dataset.Mode.RATE:  # the home page and the dataset list link here for both modes
        return redirect(reverse("ratings:rate", kwargs={"dataset_id": dataset.pk}))
    if request.method == "POST":
        return _after_post(request, labeller=labeller, dataset=dataset, error="")
    return _render_work(request, labeller=labeller, dataset=dataset)


def _after_post(request, *, labeller, dataset, error, success=""):
    """htmx: the next pair leased and swapped in place; without JS: the next pair leased, then back
    to the page, which shows it (post/redirect/get)."""
    if request.htmx:
        return _render_work(request, labeller=labeller, dataset=dataset, error=error)
    lease = services.assignment_next(labeller=labeller, dataset=dataset)
    if error:
        messages.error(request, error)
    elif success:
        messages.success(request, success)
    url = reverse("labelling:compare", kwargs={"dataset_id": dataset.pk})
    return redirect(url if lease else f"{url}?{ASKED}")


@require_POST
@login_required
def judge(request, dataset_id, assignment_id):
    labeller = _labeller(request)
    dataset = _dataset(labeller, dataset_id)
    error = ""
    try:
        services.judgement_submit(
            labeller=labeller, assignment_id=assignment_id, idempotency_key=request.POST.get("idempotency_key", ""),
            **judgement_fields(request.POST),
        )
    except ApplicationError as exc:
        error = exc.message
    return _after_post(request, labeller=labeller, dataset=dataset, error=error)


@require_POST
@login_required
def skip(request, dataset_id, assignment_id):
    labeller = _labeller(request)
    dataset = _dataset(labeller, dataset_id)
    error = ""
    try:
        services.assignment_skip(labeller=labeller, assignment_id=assignment_id, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        error = exc.message
    return _after_post(request, labeller=labeller, dataset=dataset, error=error, success="Skipped.")


@require_http_methods(["GET", "POST"])
@login_required
def revise(request, dataset_id, judgement_id):
    labeller = _labeller(request)
    dataset = _dataset(labeller, dataset_id)
    original = selectors.judgement_for_revision(labeller=labeller, judgement_id=judgement_id)
    if original is None or original.pair.dataset_id != dataset.pk:
        raise Http404("No such current judgement of yours in this dataset.")
    error = ""
    if request.method == "POST":
        try:
            services.judgement_revise(labeller=labeller, judgement_id=judgement_id, **judgement_fields(request.POST))
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, f"Judgement of pair {original.pair_id} revised; the original is kept.")
            return redirect(reverse("labelling:compare", kwargs={"dataset_id": dataset.pk}))
    shown_left = original.shown_left or "a"
    context = {
        "dataset": dataset, "original": original, "error": error, "rationale_max_chars": RATIONALE_MAX_CHARS,
        "left": _side(original.pair, shown_left, original.flags),
        "right": _side(original.pair, "b" if shown_left == "a" else "a", original.flags),
        "strengths": sorted(dataset.strength_scale.items()),
        "flags": [(name, FLAG_LABELS.get(name, name)) for name in RESPONSE_FLAGS],
    }
    return render(request, "annotation/labelling/revise.html", context)
