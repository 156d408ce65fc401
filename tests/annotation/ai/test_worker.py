"""The ai_label job through a real Celery worker process: judged end to end, cancelled while it
runs, resumed to judge only what is left."""
import time

import pytest

from annotation.ai.runs import ai_label_run_cancel, ai_label_run_create, ai_label_run_resume
from annotation.ai.services import ai_labeller_create
from annotation.models import AILabelRun, Judgement
from common.models import JobStatus
from tests.annotation.ai.conftest import causal_judge, make_pairs
from tests.annotation.ai.endpoint_stub import StubEndpoint, completion
from tests.conftest import wait_for

pytestmark = pytest.mark.celery_worker


def ended(run):
    return AILabelRun.objects.values_list("status", flat=True).get(pk=run.pk) not in (JobStatus.QUEUED, JobStatus.RUNNING)


def test_a_worker_judges_every_pair(judge_folders, celery_worker_process):
    dataset, pairs = make_pairs(3)
    ai = causal_judge(judge_folders["first"])
    run = ai_label_run_create(ai_labeller=ai, dataset=dataset)
    wait_for(lambda: ended(run), message="the AI labelling run to end")
    run.refresh_from_db()
    assert (run.status, run.n_judged, run.attempt) == ("succeeded", 3, 1), run.error
    assert Judgement.objects.filter(labeller=ai.labeller).count() == 3


def test_cancel_stops_a_running_run_and_resume_judges_only_the_rest(celery_worker_process):
    def slow_answer(body, n):
        time.sleep(0.2)
        return 200, completion("B"), {}

    dataset, pairs = make_pairs(40)
    with StubEndpoint(slow_answer) as server:
        # the default rate limit (60 requests a minute) would make the resumed run last over a minute
        ai = ai_labeller_create(username="slow-judge", backend="openai", endpoint_url=server.url,
                                endpoint_model="judge-1", settings={"requests_per_minute": 60_000})
        run = ai_label_run_create(ai_labeller=ai, dataset=dataset)
        wait_for(lambda: AILabelRun.objects.get(pk=run.pk).n_judged >= 2, message="two pairs judged")
        ai_label_run_cancel(run=run)
        wait_for(lambda: ended(run), message="the run to stop")
        run.refresh_from_db()
        assert run.status == "cancelled" and 2 <= run.n_judged < 40
        judged_before = set(Judgement.objects.filter(labeller=ai.labeller).values_list("pair_id", flat=True))

        server.answer = lambda body, n: (200, completion("B"), {})
        ai_label_run_resume(run=run)
        wait_for(lambda: ended(run), message="the resumed run to end")
    run.refresh_from_db()
    assert (run.status, run.attempt, run.n_judged) == ("succeeded", 2, 40)
    assert run.summary["n_judged_now"] == 40 - len(judged_before)
    assert Judgement.objects.filter(labeller=ai.labeller).count() == 40
