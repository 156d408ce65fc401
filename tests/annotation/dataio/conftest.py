import pytest

from tests.factories import AdminLabellerFactory


@pytest.fixture
def admin_client(client):
    client.force_login(AdminLabellerFactory().user)
    return client
