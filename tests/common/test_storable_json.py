"""Every JSON API refuses text the database cannot store, wherever it is in the body, with a 400
that says where (common.parsers.StorableJSONParser)."""
import json

import pytest

pytestmark = pytest.mark.django_db


def post_json(api, url, body):
    return api.post(url, data=json.dumps(body), content_type="application/json")


def test_a_lone_surrogate_that_an_error_message_would_quote_is_a_400(admin_api):
    # DRF's error for an unknown choice quotes the value; rendered, a lone surrogate cannot be encoded.
    response = post_json(admin_api, "/api/datasets/create/", {"name": "x", "choices": ["a", "\ud800"]})
    assert response.status_code == 400 and "body.choices[1] contains a lone surrogate" in response.json()["detail"]


def test_a_nul_deep_in_a_body_is_named_by_its_path(admin_api):
    response = post_json(admin_api, "/api/reward-runs/create/",
                         {"dataset": "x", "config": {"selection": {"aggregation": "ma\x00jority"}}})
    assert response.status_code == 400
    assert "body.config.selection.aggregation contains a NUL" in response.json()["detail"]


def test_a_bad_key_is_reported_without_quoting_it(admin_api):
    response = post_json(admin_api, "/api/reward-runs/create/", {"dataset": "x", "config": {"\udc80": 1}})
    assert response.status_code == 400 and "a key of body.config contains a lone surrogate" in response.json()["detail"]
