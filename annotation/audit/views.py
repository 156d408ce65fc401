"""Audit dashboard pages (admins only). The audit is computed once per state of the data and
cached (report.py); an uncached page loads its report with hx-get so the shell shows at once."""
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.audit import presentation
from annotation.audit.forms import ExclusionForm, RevokeForm
from annotation.audit.report import CACHE_KIND, audit_cache_key, audit_cache_kind, audit_report
from annotation.audit.selectors import exclusions_for_dataset
from annotation.audit.services import exclusion_create, exclusion_revoke
from annotation.models import AuditCache, Dataset, Labeller
from common.exceptions import ApplicationError
from common.permissions import admin_required

TEMPLATE = "annotation/audit/dataset.html"


@require_GET
@admin_required
def audit_index(request):
    cached = {c.dataset_id: c for c in AuditCache.objects.filter(kind=CACHE_KIND).only("dataset_id", "computed_at")}
    datasets = [{"dataset": d, "cached": cached.get(d.pk)} for d in Dataset.objects.order_by("name")]
    return render(request, "annotation/audit/index.html", {"datasets": datasets})


def _report_context(request, dataset: Dataset, report: dict) -> dict:
    sort = request.GET.get("sort", "quality")
    descending = request.GET.get("dir", "asc") == "desc"
    rows = presentation.sorted_labellers(report["labellers"], sort, descending)
    columns = [
        {"key": key, "header": header, "active": key == sort,
         "next_dir": "asc" if key == sort and descending else "desc" if key == sort else "asc",
         "arrow": ("▼" if descending else "▲") if key == sort else ""}
        for key, header, _ in presentation.LABELLER_COLUMNS
    ]
    agreement = [(label, presentation.fmt_figure(report["agreement"][key])) for key, label in (
        ("percent", "Percent agreement"), ("cohen_kappa_mean", "Cohen's kappa, mean over labeller pairs"),
        ("fleiss_kappa", "Fleiss' kappa"), ("krippendorff_alpha_nominal", "Krippendorff's alpha, nominal"),
        ("krippendorff_alpha_ordinal", "Krippendorff's alpha, ordinal (-3..3)"))]
    return {
        "dataset": dataset,
        "report": report,
        "agreement_rows": agreement,
        "charts": presentation.charts(report),
        "columns": columns,
        "labeller_rows": [{"row": r, "cells": presentation.labeller_cells(r)} for r in rows],
        "n_flagged": sum(1 for r in rows if r["flags"]),
        "sort": sort,
        "dir": "desc" if descending else "asc",
        "exclusions": exclusions_for_dataset(dataset=dataset),
        "bias_rows": _bias_rows(report["biases"]),
        "ratings": _ratings_context(report.get("ratings")),
    }


def _ratings_context(ratings: dict | None) -> dict | None:
    """The ratings section's figures as text (audit.ratings computes them)."""
    if not ratings:
        return None
    f, g = presentation.fmt_rate, presentation.fmt_figure
    length = ratings["length_bias"]
    return {
        "n_ratings": ratings["n_ratings"], "n_items": ratings["n_items"], "n_labellers": ratings["n_labellers"],
        "figures": [
            ("Thumbs up (positivity)", f(ratings["positivity"])),
            ("Krippendorff's alpha, nominal, on the label", g(ratings["agreement"]["krippendorff_alpha"])),
            ("Percent agreement (pairs of ratings of one response)", f(ratings["agreement"]["percent"])),
            ("Gold accuracy", f(ratings["gold_accuracy"])),
            ("Self-consistency on repeats", f(ratings["self_consistency"])),
            ("Length bias: correlation of log length with thumbs up", g(length["correlation"])),
            ("Thumbs up, responses longer than the median", f(length["longer_up"])),
            ("Thumbs up, responses shorter than the median", f(length["shorter_up"])),
        ],
        "labellers": [
            {"labeller_id": r["labeller_id"], "username": r["username"], "n_ratings": r["n_ratings"],
             "positivity": f(r["positivity"]),
             "gold_accuracy": f(r["gold_accuracy"]), "self_consistency": f(r["self_consistency"])}
            for r in ratings["labellers"]
        ],
        "median_length_chars": length["median_length_chars"],
    }


def _bias_rows(biases: dict) -> list[dict]:
    f = presentation.fmt_rate
    return [
        {"name": "Length", "figure": f(biases["length"]["longer_wins"]), "sentence": biases["length"]["sentence"]},
        {"name": "Position", "figure": f(biases["position"]["left_wins"]), "sentence": biases["position"]["sentence"]},
        {"name": "Sycophancy", "figure": f(biases["sycophancy"]["agreeing_wins"]), "sentence": biases["sycophancy"]["sentence"]},
        {"name": "Speed", "figure": f(biases["speed"]["too_fast"]), "sentence": biases["speed"]["sentence"]},
    ]


@require_GET
@admin_required
def audit_dataset(request, dataset_id: int):
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    compute = request.GET.get("compute") == "1"
    overrides = request.GET.get("overrides") == "1"  # count reviewers' overrides (report.audit_report)
    key = audit_cache_key(dataset=dataset, count_overrides=overrides)
    kind = audit_cache_kind(count_overrides=overrides)
    cached = AuditCache.objects.filter(dataset=dataset, kind=kind, key=key).values_list("payload", flat=True).first()
    if cached is None and not compute:
        # Not computed for this state of the data yet: show the page now, fetch the report after.
        return render(request, TEMPLATE, {"dataset": dataset, "report": None, "query": request.GET.urlencode(),
                                          "overrides": overrides})
    report = cached if cached is not None else audit_report(dataset=dataset, count_overrides=overrides)
    context = {**_report_context(request, dataset, report), "overrides": overrides}
    if request.htmx:
        target = request.htmx.target or ""
        return render(request, TEMPLATE + ("#labeller-table" if target == "labeller-table" else "#report"), context)
    return render(request, TEMPLATE, context)


@require_GET
@admin_required
def audit_labellers_csv(request, dataset_id: int):
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    report = audit_report(dataset=dataset)
    response = HttpResponse(presentation.labellers_csv(report["labellers"]), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-labellers-{dataset.pk}.csv"'
    return response


@require_http_methods(["GET", "POST"])
@admin_required
def audit_exclude(request, dataset_id: int, labeller_id: int):
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    labeller = get_object_or_404(Labeller.objects.select_related("user"), pk=labeller_id)
    form = ExclusionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        v = form.cleaned_data
        try:
            exclusion_create(labeller=labeller, dataset=None if v["all_datasets"] else dataset, start=v["start"],
                             end=v["end"], reason=v["reason"], created_by=request.user)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Excluded {labeller.user.username}'s judgements; the audit and training data now leave them out.")
            return redirect(reverse("audit:dataset", args=[dataset.pk]) + "#exclusions")
    return render(request, "annotation/audit/exclude.html", {"dataset": dataset, "labeller": labeller, "form": form})


@require_POST
@admin_required
def audit_exclusion_revoke(request, dataset_id: int, exclusion_id: int):
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    form = RevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        exclusion_revoke(exclusion_id=exclusion_id, revoked_by=request.user, reason=reason)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Exclusion revoked: those judgements count again.")
    return redirect(reverse("audit:dataset", args=[dataset.pk]) + "#exclusions")
