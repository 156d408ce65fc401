"""Schemathesis against the live app (in-process, WSGI): every operation of the OpenAPI schema, called
as an admin with a token with generated data, answers without a server error and as its schema says.

Each generated case is sent twice: as generated, and with its path ids pointing at objects that
exist (generated ids almost never do), so that the handlers past the 404 are exercised too."""
import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from config.wsgi import application
from annotation.audit.services import exclusion_create
from annotation.labelling.services import assignment_lease
from annotation.models import ImportBatch
from tests.factories import AdminLabellerFactory, JudgementFactory, PairFactory
from tests.training.factories import PolicyRunFactory

# A few cases per operation (examples and fuzzing; no coverage phase), enough to meet every
# handler's validation and answer, in about a minute on two cores.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=SchemathesisConfig.from_dict({
    "generation": {"max-examples": 5},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}))

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


@pytest.fixture
def wsgi_keeps_the_test_connection():
    """Django's WSGI handler closes the database connection after each request when it is inside a
    transaction, as the test's is; Django's own test client disconnects that handler the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def live_world(db, settings, wsgi_keeps_the_test_connection):
    """An admin with a token, and one object of each kind the paths name (by path prefix and name)."""
    settings.ARBITER_THROTTLE_RATES = {"anon": "100000/second", "user": "100000/second"}
    admin = AdminLabellerFactory()
    policy_run = PolicyRunFactory()
    dataset = policy_run.dataset
    dataset.labellers.add(admin)
    judgement = JudgementFactory(labeller=admin, pair=PairFactory(dataset=dataset))
    PairFactory(dataset=dataset)  # one left for the admin to lease
    lease = assignment_lease(labeller=admin, dataset_id=dataset.pk)
    exclusion = exclusion_create(labeller=admin, dataset=dataset, start=None, end=None, reason="test",
                                 created_by=admin.user)
    batch = ImportBatch.objects.create(dataset=dataset, format="jsonl", filename="f.jsonl")
    return {
        "headers": {"Authorization": f"Token {Token.objects.create(user=admin.user).key}"},
        "ids": {
            "dataset_id": dataset.pk, "pair_id": judgement.pair_id, "judgement_id": judgement.pk,
            "assignment_id": lease["id"], "exclusion_id": exclusion.pk, "import_id": batch.pk,
            "run_id": policy_run.reward_run_id, "/api/sft-runs/ id": policy_run.sft_run_id,
            "/api/policy-runs/ id": policy_run.pk,
        },
    }


def known_id(ids: dict, path: str, name: str):
    prefixed = [key for key in ids if key.endswith(f" {name}") and path.startswith(key.split()[0])]
    return ids[prefixed[0]] if prefixed else ids.get(name)


@schema.parametrize()
# The fixture's objects are shared by the generated cases on purpose (the test's transaction is
# rolled back at its end). No deadline: no wall-clock bound in a test.
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
def test_every_operation_answers_as_its_schema_says(case, live_world):
    case.call_and_validate(headers=live_world["headers"], checks=CHECKS)
    known = {name: known_id(live_world["ids"], case.path, name) for name in (case.path_parameters or {})}
    if any(value is not None for value in known.values()):
        case.path_parameters = {**case.path_parameters, **{k: v for k, v in known.items() if v is not None}}
        case.call_and_validate(headers=live_world["headers"], checks=CHECKS)
