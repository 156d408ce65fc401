from django.contrib.auth.decorators import user_passes_test
from rest_framework.permissions import BasePermission


def is_arbiter_admin(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    labeller = getattr(user, "labeller", None)
    return labeller is not None and labeller.is_admin


# For function views: anyone who is not an admin, signed in or not, is sent to the login page.
admin_required = user_passes_test(is_arbiter_admin)


class IsArbiterAdmin(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view):
        return is_arbiter_admin(request.user)
