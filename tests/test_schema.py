"""The OpenAPI schema: valid, complete, and true of the live API."""
import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from tests.conftest import ROOT
from tests.factories import AdminLabellerFactory

PAGINATED_LISTS = ["/api/datasets/", "/api/datasets/{dataset_id}/pairs/", "/api/datasets/{dataset_id}/judgements/",
                   "/api/imports/"]


@pytest.fixture
def schema(db):
    client = APIClient()
    client.force_login(AdminLabellerFactory().user)
    return client.get("/api/schema/?format=json").json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_schema_generates_and_validates_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_operation_documents_a_response_body_or_no_content(schema):
    undocumented = [
        f"{method.upper()} {path}" for path, method, operation in operations(schema)
        if not any("content" in response or code == "204" for code, response in operation["responses"].items())
    ]
    assert undocumented == []


def test_operations_that_read_input_document_a_request_body(schema):
    """Every POST or PATCH reads a body, except the queue's `next` and the run actions, which take
    none (their ids are in the path)."""
    no_body = ("/next/", "/cancel/", "/resume/")
    missing = [f"{method.upper()} {path}" for path, method, operation in operations(schema)
               if method in ("post", "patch") and not path.endswith(no_body) and "requestBody" not in operation]
    assert missing == []


def test_paginated_lists_are_documented_as_pages(schema):
    for path in PAGINATED_LISTS:
        ref = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(page["properties"]) >= {"count", "next", "previous", "results"}, path
        params = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
        assert {"limit", "offset"} <= params, path


def test_export_documents_the_media_types_it_sends(schema):
    content = schema["paths"]["/api/datasets/{dataset_id}/export/"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/jsonl", "text/csv"}
