"""Critique-and-revise pages (admins only): the runs, a form to start one, a run's results."""
from django.contrib import messages
import json

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.critique import selectors, services
from annotation.critique.forms import CritiqueRunForm
from annotation.models import CritiqueRun
from common.exceptions import ApplicationError
from common.permissions import admin_required


@require_http_methods(["GET", "POST"])
@admin_required
def critique_runs(request):
    form = CritiqueRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            run = services.critique_run_create(
                dataset=d["dataset"], model_path=d["model_path"], constitution=d["constitution"], limit=d["limit"],
                output=d["output"], config={"max_new_tokens": d["max_new_tokens"]}, created_by=request.user)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Critique run {run.pk} queued.")
            return redirect("critique:detail", run.pk)
    return render(request, "annotation/critique/runs.html", {"runs": selectors.critique_runs()[:200], "form": form})


@require_GET
@admin_required
def critique_detail(request, run_id: int):
    run = get_object_or_404(selectors.critique_runs(), pk=run_id)
    page = Paginator(selectors.revisions_of_run(run=run), 25).get_page(request.GET.get("page"))
    return render(request, "annotation/critique/detail.html", {
        "run": run, "page": page, "outcomes": selectors.revision_outcomes(run=run),
    })


@require_POST
@admin_required
def critique_cancel(request, run_id: int):
    try:
        services.critique_run_cancel(run=get_object_or_404(CritiqueRun, pk=run_id))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("critique:detail", run_id)


@require_POST
@admin_required
def critique_resume(request, run_id: int):
    try:
        services.critique_run_resume(run=get_object_or_404(CritiqueRun, pk=run_id))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("critique:detail", run_id)


@require_GET
@admin_required
def critique_sft_jsonl(request, run_id: int):
    """The revisions as SFT data, one JSON object a line ({"messages": [..., assistant revision], provenance})."""
    run = get_object_or_404(CritiqueRun, pk=run_id)
    lines = (json.dumps(record, ensure_ascii=False) + "\n" for record in selectors.sft_records(run=run))
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="critique-{run.pk}-sft.jsonl"'
    return response
