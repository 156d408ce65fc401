from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotation.models import Dataset


@require_GET
@login_required
def home(request):
    labeller = getattr(request.user, "labeller", None)
    is_admin = request.user.is_staff or (labeller is not None and labeller.is_admin)
    if is_admin:
        datasets = Dataset.objects.order_by("name")
    elif labeller is not None:
        datasets = labeller.datasets.order_by("name")
    else:
        datasets = Dataset.objects.none()
    return render(request, "home.html", {"datasets": datasets, "is_admin": is_admin})
