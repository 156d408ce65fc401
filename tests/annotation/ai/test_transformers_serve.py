"""The chat-endpoint judge against a real `transformers serve` (the transformers[serving] extra)
serving a tiny local model folder on a free port, offline. It ignores `logprobs`, so verdicts come
from the text."""
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from annotation.ai.runs import ai_label_run_create, ai_label_run_execute
from annotation.ai.services import ai_labeller_create
from annotation.models import Judgement
from tests.annotation.ai.conftest import make_pairs
from tests.conftest import wait_for

pytest.importorskip("fastapi", reason="transformers serve needs the transformers[serving] extra")
pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def served_first_position_judge(judge_folders, tmp_path_factory):
    port = free_port()
    cli = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    log = open(tmp_path_factory.mktemp("serve") / "serve.log", "w")
    proc = subprocess.Popen([str(cli), "serve", judge_folders["first"], "--port", str(port), "--device", "cpu"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: proc.poll() is not None or healthy(f"http://127.0.0.1:{port}/health"), timeout=180,
                 message="transformers serve to answer /health")
        assert proc.poll() is None, Path(log.name).read_text()[-2000:]
        yield f"http://127.0.0.1:{port}/v1", judge_folders["first"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_a_run_against_transformers_serve_records_both_orders_read_from_the_text(served_first_position_judge):
    url, model = served_first_position_judge
    dataset, pairs = make_pairs(2)
    ai = ai_labeller_create(username="served-judge", backend="openai", endpoint_url=url, endpoint_model=model,
                            settings={"max_tokens": 1, "retries": 1})
    run = ai_label_run_execute(run_id=ai_label_run_create(ai_labeller=ai, dataset=dataset, enqueue=False).pk)
    assert (run.status, run.n_judged, run.n_failed) == ("succeeded", 2, 0), run.failures
    for j in Judgement.objects.filter(labeller=ai.labeller):
        # the model always answers "A": the first position in each order, so they disagree
        assert [(o["order"], o["verdict"], o["p_a"], o["raw"].strip()) for o in j.ai_detail["orders"]] == \
            [("ab", "a", None, "A"), ("ba", "b", None, "A")]
        assert (j.choice, j.strength, j.ai_detail["agreed"], j.ai_detail["judge_model"]) == ("tie", None, False, model)
