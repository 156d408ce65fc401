"""Ids in URLs and query strings stay within the database's integer range: a larger one is a 404
(or is ignored in a list of ids), never an overflow inside the database driver."""
import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from common.validation import ID_MAX
from tests.factories import AdminLabellerFactory

pytestmark = pytest.mark.django_db

TOO_BIG = "9" * 20


def patterns(resolver, prefix=""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def test_no_url_of_the_project_takes_an_unbounded_int():
    ours = [route for route, entry in patterns(get_resolver())
            if not entry.lookup_str.startswith(("django.", "drf_spectacular."))]
    assert ours and not [route for route in ours if "<int:" in route]


@pytest.mark.parametrize("url", [
    f"/label/{TOO_BIG}/", f"/reward-models/{TOO_BIG}/", f"/policy-runs/ppo/{TOO_BIG}/", f"/audit/{TOO_BIG}/",
    f"/api/datasets/{TOO_BIG}/", f"/api/reward-runs/{TOO_BIG}/", f"/api/policy-runs/{TOO_BIG}/",
])
def test_an_id_beyond_the_database_range_is_a_404(client, url):
    client.force_login(AdminLabellerFactory(user__is_superuser=True).user)
    assert client.get(url).status_code == 404


def test_the_reward_model_comparison_ignores_ids_beyond_the_database_range(client):
    client.force_login(AdminLabellerFactory(user__is_superuser=True).user)
    assert client.get(f"/reward-models/compare/?ids={TOO_BIG}&ids=1").status_code == 200



def test_the_schema_documents_path_ids_as_bounded_integers(client):
    schema = client.get("/api/schema/?format=json").json()
    (parameter,) = [p for p in schema["paths"]["/api/datasets/{dataset_id}/next/"]["post"]["parameters"]
                    if p["name"] == "dataset_id"]
    assert parameter["schema"] == {"type": "integer", "minimum": 1, "maximum": ID_MAX}
