import pytest


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """The factories set a password per user; the default hasher would make that the slowest part."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
