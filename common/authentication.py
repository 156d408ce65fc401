"""API token authentication with an optional lifetime (ARBITER_TOKEN_TTL_HOURS)."""
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


def token_expired(token) -> bool:
    """Whether `token` is older than ARBITER_TOKEN_TTL_HOURS (never, when that is unset)."""
    ttl_hours = settings.ARBITER_TOKEN_TTL_HOURS
    return ttl_hours is not None and token.created < timezone.now() - timedelta(hours=ttl_hours)


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, refusing tokens older than ARBITER_TOKEN_TTL_HOURS.
    (POST /api/auth/token/ with the password then gives a new one.)"""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        self.refuse_expired(token)
        return user, token

    @staticmethod
    def refuse_expired(token) -> None:
        if token_expired(token):
            raise AuthenticationFailed("Token expired: get a new one from /api/auth/token/.")
