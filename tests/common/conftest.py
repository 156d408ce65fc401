import pytest
from rest_framework.test import APIClient

from tests.factories import AdminLabellerFactory


@pytest.fixture
def admin_api():
    """An API client signed in as an admin."""
    api = APIClient()
    api.force_authenticate(AdminLabellerFactory().user)
    return api
