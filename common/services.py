from django.db import transaction
from rest_framework.authtoken.models import Token

from common.authentication import token_expired


@transaction.atomic
def token_issue(*, user) -> Token:
    """The user's API token: the current one, or a new one when it has expired (or there is none)."""
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and token_expired(token):
        token.delete()
        token = None
    return token or Token.objects.create(user=user)
