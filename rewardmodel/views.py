"""Reward-model pages (admins only): list, create, live detail, compare, download, auto-retrain."""
import zipfile
from pathlib import Path

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.charts import line_chart
from common.exceptions import ApplicationError
from common.models import JobStatus
from common.permissions import admin_required
from common.validation import ids_from_query
from rewardmodel import selectors, services
from rewardmodel.forms import AutoRetrainForm, RunCreateForm
from rewardmodel.models import RewardModelRun
from rewardmodel.tasks import reward_run_score_pairs

def fmt(value) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.3f}" if isinstance(value, float) else str(value)


COMPARE_ROWS = [
    ("Held-out accuracy", "accuracy"), ("Accuracy, unanimous pairs", "accuracy_unanimous"),
    ("Accuracy, split pairs", "accuracy_split"), ("Held-out loss", "loss"), ("ECE", "ece"),
    ("Reward-length correlation", "reward_length_correlation"), ("Prefers the longer response", "prefers_longer_rate"),
    ("Gold accuracy", "gold_accuracy"), ("Held-out pairs", "n_pairs"),
    ("Held-out HUMAN accuracy (pairs people decided)", "human_accuracy"), ("Held-out human pairs", "n_human_eval"),
]


@require_GET
@admin_required
def run_list(request):
    return render(request, "rewardmodel/list.html", {
        "runs": selectors.run_list()[:200],
        "policies": selectors.auto_retrain_policies(),
        "auto_form": AutoRetrainForm(),
    })


@require_http_methods(["GET", "POST"])
@admin_required
def run_create(request):
    form = RunCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.reward_run_create(
                dataset=form.cleaned_data["dataset"], base_model_path=form.cleaned_data["base_model_path"],
                name=form.cleaned_data["name"], config=form.config(), created_by=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("rewardmodel:detail", run_id=run.pk)
    return render(request, "rewardmodel/create.html", {"form": form})


def _detail_context(run: RewardModelRun) -> dict:
    curves = selectors.run_curves(run)
    pick = lambda *names: {n: curves[n] for n in names if n in curves}  # noqa: E731
    evaluation = run.summary.get("evaluation", {})
    return {
        "run": run,
        "loss_chart": line_chart(pick("loss", "eval_loss"), title="Loss", x_label="step"),
        "accuracy_chart": line_chart(pick("accuracy", "eval_accuracy"), title="Accuracy", x_label="step"),
        "last": run.steps.order_by("-step").first(),
        "evaluation_rows": [(label, fmt(evaluation.get(key))) for label, key in COMPARE_ROWS if key in evaluation],
        "has_artifact": run.status == JobStatus.SUCCEEDED and Path(run.artifact_path or "/-").is_dir(),
    }


@require_GET
@admin_required
def run_detail(request, run_id: int):
    run = get_object_or_404(selectors.run_list(), pk=run_id)
    template = "rewardmodel/detail.html#live" if request.htmx else "rewardmodel/detail.html"
    return render(request, template, _detail_context(run))


def _act(request, run_id, action, done: str):
    run = get_object_or_404(RewardModelRun, pk=run_id)
    try:
        result = action(run)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("rewardmodel:detail", run_id=run.pk)
    messages.success(request, done)
    return redirect("rewardmodel:detail", run_id=getattr(result, "pk", run.pk))


@require_POST
@admin_required
def run_cancel(request, run_id: int):
    return _act(request, run_id, lambda run: services.reward_run_cancel(run=run), "Cancel requested.")


@require_POST
@admin_required
def run_resume(request, run_id: int):
    return _act(request, run_id, lambda run: services.reward_run_resume(run=run), "Queued again; it resumes from its last checkpoint.")


@require_POST
@admin_required
def run_retrain(request, run_id: int):
    return _act(request, run_id, lambda run: services.reward_run_retrain(run=run, created_by=request.user),
                "A new run was queued on the judgements counted now.")


@require_POST
@admin_required
def run_score_pairs(request, run_id: int):
    def queue(run):
        if run.status != JobStatus.SUCCEEDED:
            raise ApplicationError("Only a succeeded run can score pairs.")
        reward_run_score_pairs.delay(run.pk, run.dataset_id)
        return run

    return _act(request, run_id, queue, "Scoring of the dataset's pairs was queued.")


class _Sink:
    """A write-only file for zipfile that hands its bytes to a streaming response."""

    def __init__(self):
        self.chunks = []

    def write(self, data):
        self.chunks.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def drain(self):
        chunks, self.chunks = self.chunks, []
        return chunks


def _zip_stream(folder: Path, prefix: str):
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            with archive.open(f"{prefix}/{path.relative_to(folder)}", "w", force_zip64=True) as dest, open(path, "rb") as src:
                while chunk := src.read(1 << 20):
                    dest.write(chunk)
                    yield from sink.drain()
            yield from sink.drain()
    yield from sink.drain()


@require_GET
@admin_required
def run_download(request, run_id: int):
    run = get_object_or_404(RewardModelRun, pk=run_id)
    folder = Path(run.artifact_path) if run.artifact_path else None
    if run.status != JobStatus.SUCCEEDED or folder is None or not folder.is_dir():
        raise Http404("This run has no checkpoint to download.")
    name = f"reward-model-{run.pk}"
    response = StreamingHttpResponse(_zip_stream(folder, name), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return response


@require_GET
@admin_required
def run_compare(request):
    ids = ids_from_query(request.GET.getlist("ids"), limit=6)
    runs = selectors.runs_by_ids(ids)
    rows = [(label, [fmt(r.summary.get("evaluation", {}).get(key)) for r in runs]) for label, key in COMPARE_ROWS]
    rows += [
        ("Training pairs", [fmt(r.data_snapshot.get("n_train_pairs")) for r in runs]),
        ("Truncated pairs (train)", [fmt(r.data_snapshot.get("n_truncated_train")) for r in runs]),
        ("Judgements used", [_source_label(r) for r in runs]),
        ("Steps", [fmt(r.summary.get("steps")) for r in runs]),
    ]
    settings_rows = []
    for section in ("train", "selection"):
        keys = sorted({k for r in runs for k in r.config.get(section, {})})
        for key in keys:
            values = [r.config.get(section, {}).get(key) for r in runs]
            settings_rows.append((f"{section}.{key}", values, len({repr(v) for v in values}) > 1))
    curves = {r.pk: selectors.run_curves(r) for r in runs}
    return render(request, "rewardmodel/compare.html", {
        "runs": runs, "rows": rows, "settings_rows": settings_rows,
        "eval_chart": line_chart({f"run {pk}": c.get("eval_accuracy", []) for pk, c in curves.items()}, title="Held-out accuracy", x_label="step"),
        "loss_chart": line_chart({f"run {pk}": c.get("loss", []) for pk, c in curves.items()}, title="Training loss", x_label="step"),
    })


def _source_label(run) -> str:
    """Whose judgements trained the run, from its snapshot (runs before AI labellers: people)."""
    snap = run.data_snapshot
    source = snap.get("judgement_source") or run.config.get("selection", {}).get("judgement_source", "human")
    text = {"human": "people only", "model": "AI labellers only", "both": "people and AI labellers"}.get(source, source)
    if source == "both" and snap.get("ai_weight") is not None:
        text += f", AI weight {snap['ai_weight']:g}"
    if "n_ai_judgements" in snap:
        text += f" ({snap['n_human_judgements']:,} human, {snap['n_ai_judgements']:,} AI)"
    return text


@require_POST
@admin_required
def auto_retrain_set(request):
    form = AutoRetrainForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("rewardmodel:list")
    dataset = form.cleaned_data["dataset"]
    template = dataset.reward_runs.filter(status=JobStatus.SUCCEEDED).order_by("-created_at").first()
    try:
        services.auto_retrain_policy_set(
            dataset=dataset, every_n_judgements=form.cleaned_data["every_n_judgements"],
            enabled=form.cleaned_data["enabled"], template_run=template,
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Automatic retraining for {dataset.name} saved.")
    return redirect("rewardmodel:list")
