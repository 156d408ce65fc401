"""Policy-run pages (admins only): lists, create forms, live run pages, cancel/resume, samples
sent back to annotation, checkpoint download."""
import shutil
import tempfile
from pathlib import Path

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.charts import line_chart
from common.exceptions import ApplicationError
from common.permissions import admin_required
from training import selectors, services
from training.forms import DPORunForm, KTORunForm, PolicyRunForm, SendToAnnotationForm, SFTRunForm, SPINRunForm
from training.models import PolicyRun, SFTRun

KINDS = {"sft": SFTRun, "ppo": PolicyRun}
HEADLINE = [("step", "step"), ("score", "objective/scores"), ("KL", "objective/kl"), ("beta", "objective/kl_coef"),
            ("entropy", "policy/entropy"), ("clip fraction", "policy/clipfrac"), ("episodes/s", "episodes_per_second")]
CHARTS = [
    ("Reward-model score", ["objective/scores"]),
    ("KL to the reference (nats / response)", ["objective/kl"]),
    ("beta (KL coefficient)", ["objective/kl_coef"]),
    ("Policy entropy", ["policy/entropy"]),
    ("Response length (tokens)", ["val/response_length"]),
    ("Clip fraction", ["policy/clipfrac"]),
    ("Value loss", ["loss/value"]),
    ("Approximate KL (per update)", ["policy/approxkl"]),
]
DPO_HEADLINE = [("step", "step"), ("loss", "loss"), ("reward margin", "rewards/margins"),
                ("accuracy", "rewards/accuracies"), ("held-out accuracy", "eval_rewards/accuracies"),
                ("gold accuracy", "eval_gold_rewards/accuracies")]
DPO_CHARTS = [
    ("Loss", ["loss", "eval_loss"]),
    ("Implicit rewards (beta x log-ratio to the reference)", ["rewards/chosen", "rewards/rejected"]),
    ("Reward margin", ["rewards/margins", "eval_rewards/margins"]),
    ("Preference accuracy", ["rewards/accuracies"]),
    ("Held-out preference accuracy (eval split, gold pairs)", ["eval_rewards/accuracies", "eval_gold_rewards/accuracies"]),
    ("Log-probs of the responses", ["logps/chosen", "logps/rejected"]),
]
KTO_HEADLINE = [("step", "step"), ("loss", "loss"), ("reward margin", "rewards/margins"), ("KL (z0)", "kl"),
                ("held-out accuracy", "eval_rewards/accuracies")]
KTO_CHARTS = [
    ("Loss", ["loss"]),
    ("Implicit rewards of desirable (chosen) and undesirable (rejected) responses", ["rewards/chosen", "rewards/rejected"]),
    ("Reward margin (desirable minus undesirable)", ["rewards/margins", "eval_rewards/margins"]),
    ("KL reference point z0 (mismatched pairs, clamped at 0)", ["kl"]),
    ("Held-out preference accuracy", ["eval_rewards/accuracies"]),
    ("Log-probs of the responses", ["logps/chosen", "logps/rejected"]),
]


def _run(kind: str, pk: int):
    if kind not in KINDS:
        raise Http404
    return get_object_or_404(KINDS[kind], pk=pk)


def _detail_url(kind, run):
    return redirect("training:sft_detail" if kind == "sft" else "training:policy_detail", pk=run.pk)


@require_GET
@admin_required
def run_list(request):
    return render(request, "training/runs.html", {
        "sft_runs": selectors.sft_run_list()[:100], "policy_runs": selectors.policy_run_list()[:100],
    })


@require_http_methods(["GET", "POST"])
@admin_required
def sft_create(request):
    form = SFTRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            run = services.sft_run_create(dataset=d["dataset"], base_model_path=d["base_model_path"].strip(),
                                          name=d["name"], created_by=request.user,
                                          config={k: d[k] for k in SFTRunForm.CONFIG_FIELDS})
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("training:sft_detail", pk=run.pk)
    return render(request, "training/create.html", {"form": form, "title": "New SFT run"})


@require_http_methods(["GET", "POST"])
@admin_required
def policy_create(request):
    form = PolicyRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            run = services.policy_run_create(
                sft_run=d["sft_run"], reward_run=d["reward_run"], held_out_reward_run=d["held_out_reward_run"],
                dataset=d["dataset"], name=d["name"], created_by=request.user,
                config={k: d[k] for k in PolicyRunForm.CONFIG_FIELDS},
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("training:policy_detail", pk=run.pk)
    return render(request, "training/create.html", {"form": form, "title": "New PPO run"})


def _preference_run_create(request, form_class, create, *, title: str):
    """The create page of a run trained on a dataset from an SFT run or a model folder (DPO, KTO,
    SPIN): the form, then the kind's create service, its refusal shown on the form."""
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            run = create(dataset=d["dataset"], sft_run=d["sft_run"], base_model_path=d["base_model_path"].strip(),
                         name=d["name"], created_by=request.user, config=form.config())
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("training:policy_detail", pk=run.pk)
    return render(request, "training/create.html", {"form": form, "title": title})


@require_http_methods(["GET", "POST"])
@admin_required
def dpo_create(request):
    return _preference_run_create(request, DPORunForm, services.dpo_run_create, title="New DPO run")


@require_http_methods(["GET", "POST"])
@admin_required
def kto_create(request):
    return _preference_run_create(request, KTORunForm, services.kto_run_create, title="New KTO run")


@require_GET
@admin_required
def sft_detail(request, pk: int):
    run = get_object_or_404(SFTRun.objects.select_related("dataset"), pk=pk)
    chart = line_chart({"loss": [(s, v) for s, v in run.losses]}, title="Training loss (response tokens)", x_label="step")
    template = "training/sft_detail.html" + ("#live" if request.htmx else "")
    return render(request, template, {"run": run, "chart": chart, "kind": "sft"})


@require_GET
@admin_required
def policy_detail(request, pk: int):
    run = get_object_or_404(PolicyRun.objects.select_related("dataset", "sft_run", "reward_run", "held_out_reward_run"), pk=pk)
    if run.kind == PolicyRun.Kind.GRPO:
        return redirect("training:grpo_detail", pk=pk)
    last = selectors.policy_run_last_metrics(run=run)
    dpo = run.kind in (PolicyRun.Kind.DPO, PolicyRun.Kind.KTO, PolicyRun.Kind.SPIN)  # SPIN trains with DPO's loop
    chart_specs, headline = (DPO_CHARTS, DPO_HEADLINE) if dpo else (CHARTS, HEADLINE)
    if run.kind == PolicyRun.Kind.KTO:
        chart_specs, headline = KTO_CHARTS, KTO_HEADLINE
    names = [n for _, ns in chart_specs for n in ns]
    series = selectors.policy_run_series(run=run, names=names)
    charts = [line_chart({n: series[n] for n in ns}, title=title, x_label="step") for title, ns in chart_specs]
    if not dpo:
        charts.append(line_chart(selectors.policy_run_reward_vs_kl(run=run), title="Proxy vs held-out reward against KL",
                                 x_label="KL"))
    context = {
        "run": run, "kind": "ppo", "charts": charts,
        "headline": [(label, last[key]) for label, key in headline if key in last],
        "warnings": selectors.policy_run_warnings(run=run), "samples": selectors.policy_run_samples(run=run)[:64],
        "options": selectors.policy_run_options(run=run),
        "send_form": SendToAnnotationForm(initial={"dataset": run.dataset_id}),
    }
    template = "training/policy_detail.html" + ("#live" if request.htmx else "")
    return render(request, template, context)


@require_POST
@admin_required
def run_cancel(request, kind: str, pk: int):
    run = _run(kind, pk)
    try:
        services.run_cancel(run=run)
        messages.success(request, "Cancel requested: the run stops at its next step and keeps its checkpoint.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _detail_url(kind, run)


@require_POST
@admin_required
def run_resume(request, kind: str, pk: int):
    run = _run(kind, pk)
    try:
        services.run_resume(run=run)
        messages.success(request, "Queued again: it continues from its last checkpoint.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _detail_url(kind, run)


@require_POST
@admin_required
def policy_send(request, pk: int):
    run = get_object_or_404(PolicyRun, pk=pk)
    form = SendToAnnotationForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Check the send form: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("training:policy_detail", pk=pk)
    d = form.cleaned_data
    try:
        pairs = services.policy_samples_send_to_annotation(run=run, dataset=d["dataset"], mode=d["mode"],
                                                           n_prompts=d["n_prompts"], created_by=request.user)
        messages.success(request, f"{len(pairs)} new pairs added to “{d['dataset'].name}” for labellers.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("training:policy_detail", pk=pk)


@require_GET
@admin_required
def run_download(request, kind: str, pk: int):
    """The finished model folder as a zip (a standard Hugging Face folder inside)."""
    run = _run(kind, pk)
    folder = Path(run.artifact_path) if run.artifact_path else None
    if folder is None or not folder.is_dir():
        raise Http404("This run has no finished model.")
    tmp = tempfile.TemporaryFile(suffix=".zip")
    with tempfile.TemporaryDirectory() as work:
        archive = shutil.make_archive(str(Path(work) / "model"), "zip", root_dir=folder)
        with open(archive, "rb") as src:
            shutil.copyfileobj(src, tmp)
    tmp.seek(0)
    return FileResponse(tmp, as_attachment=True, filename=f"{kind}-run-{run.pk}.zip")


GRPO_HEADLINE = [("step", "step"), ("reward", "reward"), ("zero-variance groups", "frac_reward_zero_std"),
                 ("held-out accuracy", "eval_accuracy"), ("entropy", "entropy"), ("length", "completions/mean_length")]
GRPO_FIXED_CHARTS = [
    ("Share of groups with zero reward variance (they teach nothing)", ["frac_reward_zero_std"]),
    ("Response length (tokens)", ["completions/mean_length"]),
    ("Entropy (nats / token)", ["entropy"]),
    ("KL to the start model (k3, beta > 0 only)", ["kl"]),
    ("Held-out task accuracy", ["eval_accuracy"]),
    ("Clip ratio", ["clip_ratio"]),
]


@require_http_methods(["GET", "POST"])
@admin_required
def grpo_create(request):
    from training.forms import GRPORunForm

    form = GRPORunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            run = services.grpo_run_create(task_set=d["task_set"], sft_run=d["sft_run"],
                                           base_model_path=d["base_model_path"].strip(), reward_run=d["reward_run"],
                                           name=d["name"], created_by=request.user, config=form.config())
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("training:grpo_detail", pk=run.pk)
    return render(request, "training/create.html", {"form": form, "title": "New GRPO run"})


@require_GET
@admin_required
def grpo_detail(request, pk: int):
    run = get_object_or_404(PolicyRun.objects.select_related("task_set", "sft_run", "reward_run"), pk=pk,
                            kind=PolicyRun.Kind.GRPO)
    last = selectors.policy_run_last_metrics(run=run)
    reward_names = selectors.grpo_reward_names(run=run)
    chart_specs = [("Reward: combined and per function", ["reward", *reward_names])] + GRPO_FIXED_CHARTS
    series = selectors.policy_run_series(run=run, names=[n for _, ns in chart_specs for n in ns])
    charts = [line_chart({n: series[n] for n in ns}, title=title, x_label="step") for title, ns in chart_specs
              if any(series[n] for n in ns)]
    context = {
        "run": run, "kind": "ppo", "charts": charts, "reward_names": reward_names,
        "headline": [(label, last[key]) for label, key in GRPO_HEADLINE if key in last],
        "samples": selectors.policy_run_samples(run=run)[:64], "options": selectors.policy_run_options(run=run),
        "send_form": SendToAnnotationForm(),
    }
    template = "training/grpo_detail.html" + ("#live" if request.htmx else "")
    return render(request, template, context)


@require_POST
@admin_required
def grpo_send(request, pk: int):
    run = get_object_or_404(PolicyRun, pk=pk, kind=PolicyRun.Kind.GRPO)
    form = SendToAnnotationForm(request.POST)
    form.fields["mode"].required = False
    if not form.is_valid():
        messages.error(request, "Check the send form: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("training:grpo_detail", pk=pk)
    d = form.cleaned_data
    try:
        pairs = services.grpo_samples_send_to_annotation(run=run, dataset=d["dataset"], n_prompts=d["n_prompts"])
        messages.success(request, f"{len(pairs)} new pairs added to “{d['dataset'].name}” for labellers.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("training:grpo_detail", pk=pk)


@require_http_methods(["GET", "POST"])
@admin_required
def spin_create(request):
    return _preference_run_create(request, SPINRunForm, services.spin_run_create, title="New SPIN run")
