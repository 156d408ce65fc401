from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission


def is_arbiter_admin(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    labeller = getattr(user, "labeller", None)
    return labeller is not None and labeller.is_admin


def admin_required(view):
    """For the admin pages' function views: anonymous users go to the login page; signed-in
    labellers get 403 (sending them to the login page they are already past would loop)."""
    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_arbiter_admin(request.user):
            raise PermissionDenied("Only admins can open this page.")
        return view(request, *args, **kwargs)
    return wrapped


class IsArbiterAdmin(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view):
        return is_arbiter_admin(request.user)
