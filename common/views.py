from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotation.dataio.selectors import datasets_visible_to, datasets_with_counts
from common.permissions import is_arbiter_admin


@require_GET
@login_required
def home(request):
    """Admins see every dataset; anyone labels only the datasets they are a member of."""
    labeller = getattr(request.user, "labeller", None)
    member_of = set(labeller.datasets.values_list("pk", flat=True)) if labeller is not None else set()
    return render(request, "home.html", {
        "datasets": datasets_with_counts(datasets_visible_to(request.user)),
        "member_of": member_of,
        "is_admin": is_arbiter_admin(request.user),
    })
