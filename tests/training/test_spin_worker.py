"""A real Celery worker process runs a SPIN run queued by the service."""
import pytest
from transformers import AutoModelForCausalLM

from common.models import JobStatus
from tests.conftest import wait_for
from tests.training.test_spin_run import TINY
from tests.training.test_worker import ENDED, artifacts  # noqa: F401  (artifacts the worker inherits)
from tests.training.factories import dataset_with_preferences
from training.models import PolicyRun, PolicySample, PolicyStep
from training.services import spin_run_create


@pytest.mark.celery_worker
def test_a_worker_runs_a_queued_spin_run_to_a_policy_transformers_loads(artifacts, dpo_base_model, celery_worker_process):
    run = spin_run_create(dataset=dataset_with_preferences(4), base_model_path=dpo_base_model,
                          config={**TINY, "iterations": 2, "steps_per_iteration": 1})

    run = wait_for(lambda: PolicyRun.objects.filter(pk=run.pk, status__in=ENDED).first(), timeout=300,
                   message="the SPIN run to end")

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert list(PolicyStep.objects.filter(run=run).values_list("step", flat=True)) == [1, 2]
    assert sorted(set(PolicySample.objects.filter(run=run).values_list("iteration", flat=True))) == [1, 2]
    AutoModelForCausalLM.from_pretrained(run.artifact_path)
