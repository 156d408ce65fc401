"""The admin's Data page: datasets and their counts, uploads, import history, export downloads."""
from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from annotation.dataio import selectors
from annotation.dataio.downloads import export_response
from annotation.dataio.forms import ImportForm, TaskSetImportForm
from annotation.dataio.services import ImportRejected, import_file
from annotation.dataio.uploads import import_upload_queue
from annotation.models import Dataset
from common.exceptions import ApplicationError
from common.permissions import admin_required

PAGE = "annotation/dataio/data.html"
EXPORT_KINDS = ("trl", "judgements", "judgements-csv", "unpaired", "unpaired-csv")


def _page(request, *, form, rejected=None, status=200, task_form=None, task_errors=None):
    from training.selectors import task_set_list

    context = {
        "task_sets": task_set_list(), "task_form": task_form or TaskSetImportForm(), "task_errors": task_errors,
        "datasets": selectors.datasets_with_counts(),
        "imports": selectors.import_history(limit=20),
        "uploads": selectors.uploads_in_progress(),
        "inline_max_bytes": settings.ARBITER_IMPORT_INLINE_MAX_BYTES,
        "form": form,
        "rejected": rejected,
    }
    template = PAGE + "#upload" if request.htmx else PAGE
    return render(request, template, context, status=status)


@require_GET
@admin_required
def data_home(request):
    return _page(request, form=ImportForm())


@require_POST
@admin_required
def data_import(request):
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form=form, status=200 if request.htmx else 400)
    v = form.cleaned_data
    if v["file"].size > settings.ARBITER_IMPORT_INLINE_MAX_BYTES:
        # Too long for a web request: a worker imports it, and its page follows the progress.
        upload = import_upload_queue(dataset_name=v["dataset"], file=v["file"], format=v["format"],
                                     skip_invalid=v["skip_invalid"], created_by=request.user, filename=v["file"].name)
        target = redirect("dataio:upload-detail", upload_id=upload.pk)
        return HttpResponseClientRedirect(target.url) if request.htmx else target
    try:
        batch = import_file(dataset_name=v["dataset"], file=v["file"], format=v["format"],
                            skip_invalid=v["skip_invalid"], created_by=request.user, filename=v["file"].name)
    except ImportRejected as exc:
        # htmx swaps 2xx answers only; without htmx the full page says 400.
        return _page(request, form=form, rejected=exc, status=200 if request.htmx else 400)
    except ApplicationError as exc:
        form.add_error(None, exc.message)
        return _page(request, form=form, status=200 if request.htmx else 400)
    if batch.format == "unpaired":
        messages.success(request, f"Imported {batch.filename}: {batch.n_rating_items_created} new responses to rate, "
                                  f"{batch.n_ratings_created} new ratings.")
    else:
        messages.success(request, f"Imported {batch.filename}: {batch.n_pairs_created} new pairs, "
                                  f"{batch.n_judgements_created} new judgements.")
    target = redirect("dataio:import-detail", import_id=batch.pk)
    if request.htmx:
        return HttpResponseClientRedirect(target.url)
    return target


@require_GET
@admin_required
def import_detail(request, import_id: int):
    batch = get_object_or_404(selectors.imports_recent(), pk=import_id)
    issues = batch.errors or []
    return render(request, "annotation/dataio/import_detail.html", {
        "batch": batch,
        "errors": [i for i in issues if i.get("severity", "error") == "error"],
        "warnings": [i for i in issues if i.get("severity") == "warning"],
    })


@require_GET
@admin_required
def upload_detail(request, upload_id: int):
    """A queued upload's progress; htmx polls the fragment until the worker is done."""
    upload = get_object_or_404(selectors.uploads(), pk=upload_id)
    template = "annotation/dataio/upload_detail.html"
    return render(request, template + "#status" if request.htmx else template, {"upload": upload})


@require_GET
@admin_required
def export_download(request, dataset_id: int, kind: str):
    if kind not in EXPORT_KINDS:
        raise Http404("Unknown export")
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    try:
        min_agreement = float(request.GET.get("min_agreement", "0") or 0)
    except ValueError:
        min_agreement = -1
    if not 0 <= min_agreement <= 1:
        messages.error(request, "Minimum agreement must be a number between 0 and 1.")
        return redirect("dataio:home")
    if kind == "trl":
        return export_response(dataset, kind="trl", min_agreement=min_agreement)
    if kind.startswith("unpaired"):
        return export_response(dataset, kind="unpaired", csv=kind == "unpaired-csv")
    return export_response(dataset, kind="judgements", csv=kind == "judgements-csv")


@require_POST
@admin_required
def task_set_import(request):
    """A task file for GRPO into a new task set: all lines checked first, nothing written on any error."""
    from annotation.dataio.reading import open_binary
    from training.services import TaskImportRejected, task_set_import as import_tasks

    task_form = TaskSetImportForm(request.POST, request.FILES)
    if not task_form.is_valid():
        return _page(request, form=ImportForm(), task_form=task_form, status=400)
    v = task_form.cleaned_data
    try:
        task_set = import_tasks(name=v["name"], lines=open_binary(v["file"]), description=v["description"],
                                source_filename=v["file"].name)
    except TaskImportRejected as exc:
        return _page(request, form=ImportForm(), task_form=task_form, task_errors=exc.errors, status=400)
    except (ApplicationError, OSError, EOFError) as exc:
        task_form.add_error(None, getattr(exc, "message", None) or f"The file cannot be read: {exc}")
        return _page(request, form=ImportForm(), task_form=task_form, status=400)
    messages.success(request, f"Imported task set “{task_set.name}”: {task_set.tasks.count()} tasks.")
    return redirect(reverse("dataio:home") + "#task-sets")
