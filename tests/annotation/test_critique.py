"""Critique and revise (Constitutional AI's supervised stage) on a tiny local causal LM built from a
config: its text is nonsense, so these test the plumbing, the provenance and the pairs."""
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation.critique.execution import critique_run_execute
from annotation.critique.selectors import responses_to_revise
from annotation.critique.services import critique_run_create
from annotation.models import CritiqueRevision, CritiqueRun, Pair
from common.models import JobStatus
from tests.factories import AdminLabellerFactory, ConstitutionFactory, JudgementFactory, PairFactory

pytestmark = pytest.mark.django_db
WORDS = "the a cat dog tree sun rain river stone blue green red quick slow happy sad critique revision request".split()


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    from common.ml.tiny import tiny_causal_lm
    from common.ml.tokenizers import train_bpe_tokenizer

    path = tmp_path_factory.mktemp("critic") / "model"
    texts = [" ".join(WORDS[i:] + WORDS[:i]) + " Human: Assistant:" for i in range(len(WORDS))] * 3
    tok = train_bpe_tokenizer(texts, vocab_size=200, save_dir=path)
    tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2, n_positions=256).save_pretrained(path)
    return str(path)


@pytest.fixture
def dataset():
    dataset = PairFactory().dataset
    PairFactory(dataset=dataset)
    return dataset


def run_inline(dataset, model, **kwargs):
    kwargs.setdefault("config", {"max_new_tokens": 12})
    run = critique_run_create(dataset=dataset, model_path=model, enqueue=False, **kwargs)
    return critique_run_execute(run_id=run.pk)


def test_each_response_gets_a_critique_and_a_revision_with_its_provenance(dataset, tiny_lm):
    constitution = ConstitutionFactory(principles=["Be kind.", "Be brief.", "Be exact."])

    run = run_inline(dataset, tiny_lm, constitution=constitution)

    assert run.status == JobStatus.SUCCEEDED, run.error
    revisions = list(run.revisions.select_related("source_response__prompt"))
    assert {r.source_response.prompt.dataset_id for r in revisions} == {dataset.pk}
    assert len(revisions) == 4 == run.summary["n_revisions"]  # two pairs, two responses each
    for r in revisions:
        assert r.principle in constitution.principles
        assert r.model == tiny_lm
        assert isinstance(r.critique, str) and isinstance(r.revision, str)
    assert run.progress == 1.0


def test_a_revision_and_its_original_become_a_pair_the_revision_expected_to_win(dataset, tiny_lm):
    run = run_inline(dataset, tiny_lm)

    made = CritiqueRevision.objects.filter(run=run, pair__isnull=False).select_related("pair", "revision_response")
    assert made.count() == run.summary["n_pairs"] > 0
    for r in made:
        sides = {"a": r.pair.response_a_id, "b": r.pair.response_b_id}
        assert sides[r.expected_side] == r.revision_response_id
        assert set(sides.values()) == {r.revision_response_id, r.source_response_id}
        assert r.revision_response.text == r.revision and r.revision_response.source == f"critique:{run.pk}"
        assert (r.pair.origin, r.pair.origin_run, r.pair.dataset_id) == (Pair.Origin.CRITIQUE, f"critique:{run.pk}", dataset.pk)
    # no pair only where the note says why
    assert all(r.note for r in CritiqueRevision.objects.filter(run=run, pair__isnull=True))


def test_sft_output_stores_revisions_without_pairs(dataset, tiny_lm):
    n_pairs = Pair.objects.count()

    run = run_inline(dataset, tiny_lm, output="sft", limit=2)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.revisions.count() == 2 and Pair.objects.count() == n_pairs


def test_a_resumed_run_revises_only_what_it_had_not_reached_and_never_revisions(dataset, tiny_lm):
    run = run_inline(dataset, tiny_lm, limit=1)
    first = run.revisions.get()

    again = critique_run_create(dataset=dataset, model_path=tiny_lm, enqueue=False)
    todo = responses_to_revise(run=again)

    assert first.source_response_id in todo  # another run revises it again
    assert not {r for r in todo if r == first.revision_response_id}  # a revision is never revised
    assert first.source_response_id not in responses_to_revise(run=run)


def test_the_command_runs_inline_and_prints_json(dataset, tiny_lm):
    out = io.StringIO()

    call_command("critique_revise", "--dataset", dataset.name, "--model", tiny_lm, "--limit", "2", "--inline",
                 "--max-new-tokens", "8", "--json", stdout=out)

    doc = json.loads(out.getvalue())
    assert doc["status"] == "succeeded" and len(doc["revisions"]) == 2
    assert {"principle", "critique", "revision", "pair", "expected_side"} <= set(doc["revisions"][0])


def test_a_folder_that_is_not_a_model_is_refused_before_anything_is_written(dataset, tmp_path):
    with pytest.raises(CommandError, match="not a local Hugging Face model folder"):
        call_command("critique_revise", "--dataset", dataset.name, "--model", str(tmp_path), "--inline")
    assert not CritiqueRun.objects.exists()


def test_a_model_that_fails_ends_the_run_failed_with_the_reason(dataset, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    run = critique_run_create(dataset=dataset, model_path=str(tmp_path), enqueue=False)

    run = critique_run_execute(run_id=run.pk)

    assert run.status == JobStatus.FAILED and run.error


def test_labellers_votes_on_the_pairs_are_counted_for_revision_or_original(dataset, tiny_lm, client):
    run = run_inline(dataset, tiny_lm, limit=1)
    r = run.revisions.get()
    if r.pair is None:
        pytest.fail(f"the tiny model's revision made no pair: {r.note}")
    JudgementFactory(pair=r.pair, choice=r.expected_side)
    JudgementFactory(pair=r.pair, choice="b" if r.expected_side == "a" else "a")
    JudgementFactory(pair=r.pair, choice=r.expected_side)
    client.force_login(AdminLabellerFactory().user)

    html = client.get(reverse("critique:detail", args=[run.pk])).content.decode()

    assert "<strong>2</strong> for the revision" in html and "<strong>1</strong> for the original" in html


def test_the_page_shows_texts_escaped(dataset, tiny_lm, client):
    run = run_inline(dataset, tiny_lm, limit=1, output="sft")
    run.revisions.update(critique="<script>alert(1)</script>", revision="<b>bold</b>")
    client.force_login(AdminLabellerFactory().user)

    html = client.get(reverse("critique:detail", args=[run.pk])).content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_the_form_and_the_api_queue_a_run(dataset, tiny_lm, client, django_capture_on_commit_callbacks):
    client.force_login(AdminLabellerFactory().user)
    page = client.post(reverse("critique:runs"), {"dataset": dataset.pk, "model_path": tiny_lm, "output": "pair",
                                                  "max_new_tokens": 8, "limit": 3})
    api = client.post("/api/critique-runs/create/", {"dataset": dataset.name, "model_path": tiny_lm, "output": "sft"},
                      content_type="application/json")
    refused = client.post("/api/critique-runs/create/", {"dataset": dataset.name, "model_path": "/nope"},
                          content_type="application/json")

    runs = list(CritiqueRun.objects.order_by("id"))
    assert page.status_code == 302 and (runs[0].limit, runs[0].config["max_new_tokens"]) == (3, 8)
    assert api.status_code == 201 and runs[1].output == "sft" and runs[1].status == JobStatus.QUEUED
    assert refused.status_code == 400 and len(runs) == 2
    detail = client.get(f"/api/critique-runs/{runs[1].pk}/").json()
    assert detail["output"] == "sft" and detail["revisions"] == []


def test_the_pages_are_for_admins_only(client, dataset, tiny_lm):
    from tests.factories import LabellerFactory

    run = critique_run_create(dataset=dataset, model_path=tiny_lm, enqueue=False)
    urls = [reverse("critique:runs"), reverse("critique:detail", args=[run.pk])]
    assert all(client.get(url).status_code == 302 for url in urls)
    client.force_login(LabellerFactory().user)
    assert all(client.get(url).status_code == 403 for url in urls)
    assert client.post("/api/critique-runs/create/", {}, content_type="application/json").status_code == 403


@pytest.mark.celery_worker
def test_a_worker_runs_a_queued_run_through_the_broker(tiny_lm, celery_worker_process):
    from tests.conftest import wait_for

    dataset = PairFactory().dataset
    run = critique_run_create(dataset=dataset, model_path=tiny_lm, config={"max_new_tokens": 8})

    wait_for(lambda: CritiqueRun.objects.values_list("status", flat=True).get(pk=run.pk)
             not in (JobStatus.QUEUED, JobStatus.RUNNING), message="the critique run to end")

    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.worker and run.revisions.count() == 2


def test_the_revisions_download_as_sft_data_with_provenance(dataset, tiny_lm, client):
    run = run_inline(dataset, tiny_lm, limit=2, output="sft")
    run.revisions.filter(pk=run.revisions.first().pk).update(revision="")  # an empty revision is no demonstration
    kept = run.revisions.exclude(revision="").get()
    client.force_login(AdminLabellerFactory().user)

    body = b"".join(client.get(reverse("critique:sft-jsonl", args=[run.pk])).streaming_content).decode()

    (record,) = [json.loads(line) for line in body.splitlines()]
    assert record["messages"] == [*kept.source_response.prompt.messages, {"role": "assistant", "content": kept.revision}]
    assert (record["principle"], record["source_response"], record["model"]) == (kept.principle, kept.source_response_id, tiny_lm)


def test_a_cancelled_run_resumes_and_finishes(dataset, tiny_lm):
    from annotation.critique.services import critique_run_cancel, critique_run_resume

    run = critique_run_create(dataset=dataset, model_path=tiny_lm, limit=1, config={"max_new_tokens": 8}, enqueue=False)
    critique_run_cancel(run=run)
    assert CritiqueRun.objects.get(pk=run.pk).status == JobStatus.CANCELLED

    critique_run_resume(run=run, enqueue=False)
    run = critique_run_execute(run_id=run.pk)

    assert run.status == JobStatus.SUCCEEDED and run.revisions.count() == 1


@pytest.mark.parametrize("config", [{"temperature": 0}, {"max_new_tokens": 0}, {"beams": 4}])
def test_invalid_generation_settings_are_refused(dataset, tiny_lm, config):
    from common.exceptions import ApplicationError

    with pytest.raises(ApplicationError):
        critique_run_create(dataset=dataset, model_path=tiny_lm, config=config, enqueue=False)
    assert not CritiqueRun.objects.exists()


def test_a_nul_the_model_wrote_is_replaced_so_the_result_is_stored(dataset, tiny_lm):
    import random

    from annotation.critique.services import critique_revision_record

    run = critique_run_create(dataset=dataset, model_path=tiny_lm, enqueue=False)
    source = dataset.pairs.first().response_a

    record = critique_revision_record(run=run, source=source, principle="Be kind.", critique="bad\x00",
                                      revision="better\x00 now", rng=random.Random(0))

    record.refresh_from_db()
    assert (record.critique, record.revision) == ("bad\ufffd", "better\ufffd now")
    assert record.revision_response.text == "better\ufffd now" and record.pair is not None
