"""AI-labeller pages (admins only): labellers and constitutions, starting a run, watching it."""
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotation.ai import runs, selectors, services
from annotation.ai.backends.chat_endpoint import public_url
from annotation.ai.forms import AILabellerForm, ConstitutionForm, RunForm
from common.exceptions import ApplicationError
from common.permissions import admin_required

RECENT_JUDGEMENTS = 20


def _index(request, **forms):
    labellers = [{"ai": ai, "endpoint": public_url(ai.endpoint_url) if ai.endpoint_url else ""}
                 for ai in selectors.ai_labeller_list()]
    return render(request, "annotation/ai/index.html", {
        "labellers": labellers, "constitutions": selectors.constitution_list()[:50],
        "runs": selectors.ai_label_run_list()[:50],
        "constitution_form": forms.get("constitution_form") or ConstitutionForm(prefix="c"),
        "labeller_form": forms.get("labeller_form") or AILabellerForm(prefix="l"),
        "run_form": forms.get("run_form") or RunForm(prefix="r"),
    })


@require_GET
@admin_required
def ai_index(request):
    return _index(request)


@require_POST
@admin_required
def constitution_create(request):
    form = ConstitutionForm(request.POST, prefix="c")
    if form.is_valid():
        try:
            c = services.constitution_create(name=form.cleaned_data["name"], principles=form.principle_list(),
                                             created_by=request.user)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Constitution {c} saved.")
            return redirect("ai:index")
    return _index(request, constitution_form=form)


@require_POST
@admin_required
def ai_labeller_create(request):
    form = AILabellerForm(request.POST, prefix="l")
    if form.is_valid():
        d = form.cleaned_data
        try:
            ai = services.ai_labeller_create(
                username=d["username"], backend=d["backend"], model_path=d["model_path"], reward_run=d["reward_run"],
                endpoint_url=d["endpoint_url"], endpoint_model=d["endpoint_model"], api_key_env=d["api_key_env"],
                constitution=d["constitution"], prompt_template=d["prompt_template"], settings=form.judge_settings(),
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"AI labeller {ai.labeller} created.")
            return redirect("ai:index")
    return _index(request, labeller_form=form)


@require_POST
@admin_required
def run_create(request):
    form = RunForm(request.POST, prefix="r")
    if form.is_valid():
        d = form.cleaned_data
        try:
            run = runs.ai_label_run_create(ai_labeller=d["ai_labeller"], dataset=d["dataset"], limit=d["limit"],
                                           below_human_k=d["below_human_k"], seed=d["seed"], created_by=request.user)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("ai:run", run_id=run.pk)
    return _index(request, run_form=form)


@require_GET
@admin_required
def run_detail(request, run_id: int):
    run = get_object_or_404(selectors.ai_label_run_list(), pk=run_id)
    judgements = selectors.ai_judgements(labeller=run.ai_labeller.labeller, dataset=run.dataset).order_by("-created_at")
    template = "annotation/ai/run.html#live" if request.htmx else "annotation/ai/run.html"
    return render(request, template, {"run": run, "judgements": judgements[:RECENT_JUDGEMENTS]})


def _act(request, run_id, action, done):
    run = get_object_or_404(selectors.ai_label_run_list(), pk=run_id)
    try:
        action(run)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("ai:run", run_id=run.pk)


@require_POST
@admin_required
def run_cancel(request, run_id: int):
    return _act(request, run_id, lambda run: runs.ai_label_run_cancel(run=run), "Cancel requested.")


@require_POST
@admin_required
def run_resume(request, run_id: int):
    return _act(request, run_id, lambda run: runs.ai_label_run_resume(run=run),
                "Queued again; it skips the pairs already judged.")
