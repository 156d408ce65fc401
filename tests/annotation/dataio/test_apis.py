"""The data API: who may call what (every endpoint, three roles), uploads, exports, token auth."""
import gzip
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.dataio.services import import_file
from annotation.models import Dataset, ImportBatch, Pair
from tests.annotation.dataio.helpers import judgement, write_jsonl
from tests.factories import AdminLabellerFactory, JudgementFactory, LabellerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tmp_path):
    """A dataset with an assigned labeller, one pair judged by that labeller and by someone else,
    and one import."""
    labeller = LabellerFactory(user__username="lab")
    admin = AdminLabellerFactory(user__username="boss")
    batch = import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", [judgement(annotator="other")]))
    dataset = Dataset.objects.get(name="d")
    dataset.labellers.add(labeller)
    pair = Pair.objects.get()
    JudgementFactory(pair=pair, labeller=labeller, choice="b")
    return {"labeller": labeller, "admin": admin, "dataset": dataset, "pair": pair, "batch": batch}


def upload(name="up.jsonl"):
    return SimpleUploadedFile(name, (json.dumps(judgement(pair_id="new", annotator="x")) + "\n").encode())


# (method, url template, body maker, status for a labeller, status for an admin)
ENDPOINTS = [
    ("get", "/api/datasets/", None, 200, 200),
    ("post", "/api/datasets/create/", lambda w: {"name": "fresh"}, 403, 201),
    ("get", "/api/datasets/{dataset}/", None, 200, 200),
    ("patch", "/api/datasets/{dataset}/update/", lambda w: {"overlap_k": 5}, 403, 200),
    ("get", "/api/datasets/{dataset}/pairs/", None, 403, 200),
    ("get", "/api/pairs/{pair}/", None, 403, 200),
    ("get", "/api/datasets/{dataset}/judgements/", None, 200, 200),
    ("get", "/api/datasets/{dataset}/export/?kind=trl", None, 403, 200),
    ("get", "/api/datasets/{dataset}/export/?kind=judgements&csv=true", None, 403, 200),
    ("get", "/api/imports/", None, 403, 200),
    ("post", "/api/imports/create/", lambda w: {"file": upload(), "dataset": "d"}, 403, 201),
    ("get", "/api/imports/{batch}/", None, 403, 200),
]


def call(client, method, template, body, world):
    url = template.format(dataset=world["dataset"].pk, pair=world["pair"].pk, batch=world["batch"].pk)
    data = body(world) if body else None
    fmt = "multipart" if method == "post" and "imports" in url else "json"
    return getattr(client, method)(url, data, format=fmt) if data is not None else getattr(client, method)(url)


@pytest.mark.parametrize(("method", "template", "body", "labeller_status", "admin_status"), ENDPOINTS)
@pytest.mark.parametrize("role", ["anonymous", "labeller", "admin"])
def test_every_endpoint_answers_each_role_as_it_should(world, role, method, template, body, labeller_status,
                                                       admin_status):
    client = APIClient()
    if role != "anonymous":
        client.force_login(world[role].user)
    response = call(client, method, template, body, world)
    expected = {"anonymous": (401, 403), "labeller": (labeller_status,), "admin": (admin_status,)}[role]
    assert response.status_code in expected, getattr(response, "data", response)


def test_token_endpoint_gives_a_token_that_authenticates(world):
    user = world["admin"].user
    client = APIClient()
    assert client.post("/api/auth/token/", {"username": "boss", "password": "wrong"}).status_code == 400
    response = client.post("/api/auth/token/", {"username": "boss", "password": "pw-for-tests"})
    assert response.status_code == 200 and response.data["token"] == Token.objects.get(user=user).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.data['token']}")
    assert client.get("/api/imports/").status_code == 200


def test_labellers_see_only_their_assigned_datasets_and_their_own_judgements(world):
    other = Dataset.objects.create(name="not assigned")
    client = APIClient()
    client.force_login(world["labeller"].user)
    names = [d["name"] for d in client.get("/api/datasets/").data["results"]]
    assert names == ["d"]
    assert client.get(f"/api/datasets/{other.pk}/").status_code == 404
    assert client.get(f"/api/datasets/{other.pk}/judgements/").status_code == 404
    rows = client.get(f"/api/datasets/{world['dataset'].pk}/judgements/?labeller=other").data["results"]
    assert [r["labeller"] for r in rows] == ["lab"]


def test_admins_see_all_datasets_with_counts_and_filter_judgements_by_labeller(world):
    client = APIClient()
    client.force_login(world["admin"].user)
    (row,) = client.get("/api/datasets/").data["results"]
    assert (row["n_pairs"], row["n_judgements"], row["n_labellers"]) == (1, 2, 2)
    rows = client.get(f"/api/datasets/{world['dataset'].pk}/judgements/?labeller=other").data["results"]
    assert [r["labeller"] for r in rows] == ["other"]


def test_dataset_create_and_update_validate_and_assign_labellers(world):
    client = APIClient()
    client.force_login(world["admin"].user)
    assert client.post("/api/datasets/create/", {"name": "d"}, format="json").status_code == 400  # taken
    assert client.post("/api/datasets/create/", {"name": "x", "labellers": ["nobody"]}, format="json").status_code == 400
    response = client.post("/api/datasets/create/", {"name": "x", "labellers": ["lab"], "overlap_k": 2}, format="json")
    assert response.status_code == 201 and response.data["n_labellers"] == 1
    update = client.patch(f"/api/datasets/{response.data['id']}/update/", {"choices": ["a", "b"], "labellers": []},
                          format="json")
    assert update.status_code == 200 and update.data["choices"] == ["a", "b"] and update.data["n_labellers"] == 0


def test_upload_with_bad_lines_answers_400_with_every_error_and_imports_nothing(world):
    client = APIClient()
    client.force_login(world["admin"].user)
    lines = [judgement(pair_id="z", annotator="q"), judgement(pair_id="z2", annotator="q", choice="nope"), "{"]
    body = ("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n").encode()
    before = Pair.objects.count()
    response = client.post("/api/imports/create/", {"file": SimpleUploadedFile("bad.jsonl.gz", gzip.compress(body)),
                                                    "dataset": "d"}, format="multipart")
    assert response.status_code == 400
    assert [(e["line"], e["field"]) for e in response.data["errors"]] == [(2, "choice"), (3, "line")]
    assert Pair.objects.count() == before
    skipped = client.post("/api/imports/create/", {"file": SimpleUploadedFile("bad.jsonl", body), "dataset": "d",
                                                   "skip_invalid": "true"}, format="multipart")
    assert skipped.status_code == 201 and skipped.data["n_pairs_created"] == 1
    assert ImportBatch.objects.get(pk=skipped.data["id"]).created_by == world["admin"].user


def test_export_streams_a_download(world):
    client = APIClient()
    client.force_login(world["admin"].user)
    response = client.get(f"/api/datasets/{world['dataset'].pk}/export/?kind=judgements")
    assert response.streaming and "attachment" in response["Content-Disposition"]
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert sorted(r["annotator"] for r in rows) == ["lab", "other"]
    assert client.get(f"/api/datasets/{world['dataset'].pk}/export/?kind=nope").status_code == 400


def test_schema_lists_the_data_endpoints():
    client = APIClient()
    client.force_login(AdminLabellerFactory().user)
    schema = client.get("/api/schema/?format=json").json()
    for path in ("/api/datasets/", "/api/imports/create/", "/api/datasets/{dataset_id}/export/", "/api/auth/token/"):
        assert path in schema["paths"]
    upload_body = schema["paths"]["/api/imports/create/"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body
