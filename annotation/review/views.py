"""Review pages: the datasets a user reviews, a dataset's review queue, one pair with every
judgement and the decision form, the dataset's reviewers (admins), and the judgement/pair search.
Admins review every dataset; a labeller those they hold the reviewer role on."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.models import RATIONALE_MAX_CHARS, Dataset, Labeller
from annotation.review import search as search_selectors, selectors, services
from annotation.review.forms import DecisionForm, QueueFilterForm, ReviewerForm, SearchForm
from common.exceptions import ApplicationError
from common.permissions import admin_required, is_arbiter_admin

QUEUE = "annotation/review/queue.html"
SEARCH = "annotation/review/search.html"
PAGE_SIZE = 25


def _dataset(request, dataset_id: int) -> Dataset:
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    if not selectors.can_review(user=request.user, dataset=dataset):
        raise PermissionDenied("You are not a reviewer of this dataset.")
    return dataset


@require_GET
@login_required
def review_index(request):
    datasets = selectors.datasets_reviewable_by(user=request.user)
    return render(request, "annotation/review/index.html", {"datasets": datasets})


@require_GET
@login_required
def review_queue(request, dataset_id: int):
    dataset = _dataset(request, dataset_id)
    form = QueueFilterForm(request.GET or None)
    show, kind = "open", ""
    if form.is_valid():
        show, kind = form.cleaned_data["show"] or "open", form.cleaned_data["kind"]
    page = Paginator(selectors.review_queue(dataset=dataset, show=show, kind=kind), PAGE_SIZE).get_page(
        request.GET.get("page"))
    selectors.queue_attach_pairs(page.object_list)
    flagged, audit_at = selectors.audit_flagged_labellers(dataset=dataset)
    query = {k: v for k, v in (("show", show), ("kind", kind)) if v}
    context = {
        "dataset": dataset, "form": form, "page": page, "show": show, "kind": kind, "kinds": selectors.KINDS,
        "query": "&".join(f"{k}={v}" for k, v in query.items()), "audit_at": audit_at,
        "is_admin": is_arbiter_admin(request.user),
        "reviewers": selectors.reviewers_of(dataset=dataset), "reviewer_form": ReviewerForm(),
    }
    return render(request, QUEUE + ("#queue" if request.htmx else ""), context)


def _pair_context(request, dataset, pair, form, position=None):
    items = selectors.review_items(dataset=dataset, pair_ids=[pair.pk])
    item = items.get(pair.pk)
    return {
        "dataset": dataset, "pair": pair, "form": form, "reasons": item.reasons if item else [],
        "judgements": selectors.pair_judgements(pair=pair), "decisions": selectors.pair_decisions(pair=pair),
        "choices": [(c, label) for c, label in DecisionForm.base_fields["choice"].choices if c in dataset.choices],
        "wanted": dataset.overlap_k + pair.extra_overlap,
        "next_url": reverse("review:next", args=[dataset.pk]) + f"?after={pair.pk}",
        "reason_max_chars": RATIONALE_MAX_CHARS,
    }


@require_GET
@login_required
def review_next(request, dataset_id: int):
    """To the open pair that follows `?after=` in the queue (the first open pair when `after` is
    not open, e.g. just decided), or back to the queue when none is left. The queue is computed
    here, on the way, not on every review page."""
    dataset = _dataset(request, dataset_id)
    ids = [i.pair_id for i in selectors.review_queue(dataset=dataset)]
    after = request.GET.get("after", "")
    if after.isdigit() and int(after) in ids:
        at = ids.index(int(after))
        ids = ids[at + 1:] + ids[:at]
    if not ids:
        return redirect("review:queue", dataset.pk)
    return redirect("review:pair", dataset.pk, ids[0])


@require_http_methods(["GET", "POST"])
@login_required
def review_pair(request, dataset_id: int, pair_id: int):
    """GET: the pair, every judgement and rationale, past decisions and the decision form. POST:
    records the decision and goes on to the next open pair of the queue."""
    dataset = _dataset(request, dataset_id)
    pair = selectors.pair_for_review(dataset=dataset, pair_id=pair_id)
    if pair is None:
        raise Http404("No such pair in this dataset.")
    form = DecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reasons = selectors.review_items(dataset=dataset, pair_ids=[pair.pk]).get(pair.pk)
        try:
            decision = services.review_decide(pair_id=pair.pk, reviewer=request.user,
                                              listed_for=reasons.reasons if reasons else [], **form.decision())
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Pair {pair.pk}: {decision.get_action_display().lower()} recorded.")
            return redirect(reverse("review:next", args=[dataset.pk]) + f"?after={pair.pk}")
    return render(request, "annotation/review/pair.html", _pair_context(request, dataset, pair, form))


@require_POST
@admin_required
def reviewer_add(request, dataset_id: int):
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    form = ReviewerForm(request.POST)
    labeller = None
    if form.is_valid():
        labeller = Labeller.objects.filter(user__username=form.cleaned_data["username"]).first()
    if labeller is None:
        messages.error(request, "No labeller with that username.")
    else:
        try:
            services.reviewer_grant(dataset=dataset, labeller=labeller, granted_by=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{labeller} can now review {dataset.name}.")
    return redirect(reverse("review:queue", args=[dataset.pk]) + "#reviewers")


@require_POST
@admin_required
def reviewer_remove(request, dataset_id: int, labeller_id: int):
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    labeller = get_object_or_404(Labeller, pk=labeller_id)
    try:
        services.reviewer_revoke(dataset=dataset, labeller=labeller, revoked_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{labeller} no longer reviews {dataset.name}.")
    return redirect(reverse("review:queue", args=[dataset.pk]) + "#reviewers")


@require_GET
@login_required
def search(request):
    datasets = list(selectors.datasets_reviewable_by(user=request.user))
    if not datasets:
        raise PermissionDenied("You review no dataset: ask an admin for the reviewer role.")
    form = SearchForm(request.GET or None)
    form.fields["dataset"].widget.choices = [("", "Every dataset you review")] + [(d.pk, d.name) for d in datasets]
    page, what = None, "judgements"
    if form.is_valid():
        what = form.cleaned_data["what"] or "judgements"
        filters = form.filters(dataset_ids=[d.pk for d in datasets])
        qs = (search_selectors.pairs_search(filters=filters) if what == "pairs"
              else search_selectors.judgements_search(filters=filters))
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
        if what == "pairs":
            counts = search_selectors.pair_choice_counts([p.pk for p in page.object_list])
            for p in page.object_list:
                p.counts = counts.get(p.pk, {})
    params = request.GET.copy()
    params.pop("page", None)
    context = {"form": form, "page": page, "what": what, "query": params.urlencode()}
    return render(request, SEARCH + ("#results" if request.htmx else ""), context)
