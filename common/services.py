from django.db import transaction
from rest_framework.authtoken.models import Token

from common.authentication import token_expired


@transaction.atomic
def token_issue(*, user) -> Token:
    """The user's API token: the current one, or a new one when it has expired (or there is none)."""
    token, _ = Token.objects.select_for_update().get_or_create(user=user)
    if token_expired(token):
        token.delete()
        token = Token.objects.create(user=user)
    return token
