"""The Team page (admins only): labellers with their progress and audit figures, accounts,
password links, deactivation, and assigning many labellers to datasets at once. The set-password
page is the one page here for anyone: it is opened from a one-time link."""
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.tokens import default_token_generator
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from annotation.models import Dataset, Labeller
from annotation.team import selectors, services
from annotation.team.forms import LabellerCreateForm, LabellerEditForm, TeamAssignForm
from common.exceptions import ApplicationError
from common.permissions import admin_required
from common.validation import ID_MAX, UNSTORABLE

TEMPLATE = "annotation/team/index.html"


def _audit_dataset(request) -> Dataset | None:
    chosen = request.GET.get("dataset", "")
    if chosen.isdigit() and int(chosen) <= ID_MAX:
        return Dataset.objects.filter(pk=int(chosen)).first() or selectors.audit_dataset_default()
    return selectors.audit_dataset_default()


def _columns(query: dict, sort: str, descending: bool) -> list[dict]:
    columns = []
    for key, header in selectors.SORT_KEYS:
        active = key == sort
        direction = "asc" if active and descending else "desc" if active else "asc"
        columns.append({"key": key, "header": header, "active": active, "arrow": ("▼" if descending else "▲") if active else "",
                        "query": urlencode({**query, "sort": key, "dir": direction, "page": 1})})
    return columns


@require_GET
@admin_required
def team_index(request):
    search = UNSTORABLE.sub("", request.GET.get("q", "")).strip()[:150]
    sort = request.GET.get("sort", "username")
    sort = sort if sort in dict(selectors.SORT_KEYS) else "username"
    descending = request.GET.get("dir") == "desc"
    audit_dataset = _audit_dataset(request)
    audit = None
    if audit_dataset is not None:
        audit = selectors.audit_figures(dataset=audit_dataset, compute=request.GET.get("compute") == "1")
    rows = selectors.team_rows(search=search, sort=sort, descending=descending, audit=audit)
    page = Paginator(rows, selectors.PAGE_SIZE).get_page(request.GET.get("page"))
    query = {"q": search, "dataset": audit_dataset.pk if audit_dataset else "", "sort": sort,
             "dir": "desc" if descending else "asc"}
    context = {
        "page": page, "search": search, "sort": sort, "audit_dataset": audit_dataset, "audit": audit,
        "compute_query": urlencode({**query, "compute": 1}),
        "datasets": selectors.team_datasets(), "columns": _columns({"q": search, "dataset": query["dataset"]}, sort, descending),
        "query": urlencode(query), "here": f"{request.path}?{urlencode({**query, 'page': page.number})}",
        "any_labeller": Labeller.objects.exists(),
    }
    template = TEMPLATE + "#team-table" if request.htmx and request.htmx.target == "team-table" else TEMPLATE
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@admin_required
def team_create(request):
    form = LabellerCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            labeller = services.labeller_create(
                username=data["username"], email=data["email"], locale=data["locale"],
                expertise_tags=data["expertise_tags"], role=data["role"],
                password=data["password"] if data["how"] == "password" else None)
        except ApplicationError as e:
            form.add_error(None, e.message)
        else:
            if data["how"] == "password":
                messages.success(request, f"Created {labeller.user.username}; they can log in with the password you set.")
                return redirect("team:labeller", labeller_id=labeller.pk)
            return _labeller_page(request, labeller, link=services.labeller_password_link(labeller=labeller),
                                  link_intro=f"Created {labeller.user.username}. Send them this invitation link:")
    return render(request, "annotation/team/create.html", {"form": form})


def _labeller_page(request, labeller: Labeller, *, form=None, link: str = "", link_intro: str = "", status: int = 200):
    labeller = selectors.labeller_for_team(labeller_id=labeller.pk)
    if form is None:
        form = LabellerEditForm(initial={"email": labeller.user.email, "locale": labeller.locale,
                                         "expertise_tags": labeller.expertise_tags})
    return render(request, "annotation/team/labeller.html", {
        "labeller": labeller, "form": form, "link": request.build_absolute_uri(link) if link else "",
        "link_intro": link_intro, "is_person": labeller.kind == Labeller.Kind.HUMAN,
    }, status=status)


@require_GET
@admin_required
def team_labeller(request, labeller_id: int):
    return _labeller_page(request, get_object_or_404(Labeller, pk=labeller_id))


@require_POST
@admin_required
def team_labeller_edit(request, labeller_id: int):
    labeller = get_object_or_404(Labeller.objects.select_related("user"), pk=labeller_id)
    form = LabellerEditForm(request.POST)
    if form.is_valid():
        try:
            services.labeller_update(labeller=labeller, **form.cleaned_data)
        except ApplicationError as e:
            form.add_error(None, e.message)
        else:
            messages.success(request, f"Saved {labeller.user.username}.")
            return redirect("team:labeller", labeller_id=labeller.pk)
    return _labeller_page(request, labeller, form=form, status=400)


def _account_action(request, labeller_id: int, action, done: str):
    labeller = get_object_or_404(Labeller.objects.select_related("user"), pk=labeller_id)
    try:
        action(labeller)
    except ApplicationError as e:
        messages.error(request, e.message)
    else:
        messages.success(request, done.format(username=labeller.user.username))
    return redirect("team:labeller", labeller_id=labeller.pk)


@require_POST
@admin_required
def team_deactivate(request, labeller_id: int):
    return _account_action(request, labeller_id, lambda lab: services.labeller_deactivate(labeller=lab, by=request.user),
                           "Deactivated {username}: they can no longer log in or label; their judgements stay.")


@require_POST
@admin_required
def team_reactivate(request, labeller_id: int):
    return _account_action(request, labeller_id, lambda lab: services.labeller_reactivate(labeller=lab),
                           "Reactivated {username}.")


@require_POST
@admin_required
def team_password_link(request, labeller_id: int):
    labeller = get_object_or_404(Labeller.objects.select_related("user"), pk=labeller_id)
    try:
        link = services.labeller_password_link(labeller=labeller)
    except ApplicationError as e:
        messages.error(request, e.message)
        return redirect("team:labeller", labeller_id=labeller.pk)
    return _labeller_page(request, labeller, link=link,
                          link_intro="Send them this link to set a new password (their current one works until then):")


@require_POST
@admin_required
def team_assign(request):
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) or not back.startswith("/"):
        back = reverse("team:index")
    form = TeamAssignForm(request.POST)
    if not form.is_valid():
        problems = [f"{form.fields[name].label or name.capitalize()}: {' '.join(errors)}" if name != "__all__"
                    else " ".join(errors) for name, errors in form.errors.items()]
        messages.error(request, "Nothing changed. " + " ".join(problems))
        return redirect(back)
    data = form.cleaned_data
    add = data["action"] == "add"
    try:
        services.team_members_change(labellers=list(data["labellers"].select_related("user")),
                                     datasets=list(data["datasets"]), add=add)
    except ApplicationError as e:
        messages.error(request, f"Nothing changed. {e.message}")
    else:
        names = ", ".join(d.name for d in data["datasets"])
        n = len(data["labellers"])
        messages.success(request, f"{'Added' if add else 'Removed'} {n} labeller{'s' if n != 1 else ''} "
                                  f"{'to' if add else 'from'} {names}.")
    return redirect(back)


def _link_user(uidb64: str):
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    if not 1 <= pk <= ID_MAX:
        return None
    return get_user_model().objects.filter(pk=pk).first()


@require_http_methods(["GET", "POST"])
def set_password(request, uidb64: str, token: str):
    """The page a one-time link opens: choose a password, once."""
    user = _link_user(uidb64)
    valid = user is not None and user.is_active and default_token_generator.check_token(user, token)
    form = SetPasswordForm(user, request.POST or None) if valid else None
    if valid and request.method == "POST" and form.is_valid():
        try:
            services.labeller_password_set(user=user, token=token, password=form.cleaned_data["new_password1"])
        except ApplicationError as e:
            form.add_error(None, e.message)
        else:
            messages.success(request, "Your password is set: log in with it.")
            return redirect("login")
    return render(request, "annotation/team/set_password.html", {"form": form, "valid": valid, "who": user},
                  status=200 if valid else 400)
