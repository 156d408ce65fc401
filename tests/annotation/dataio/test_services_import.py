"""import_file: all-or-nothing validation, skip-invalid, idempotence, what each format writes."""
import datetime as dt

import pytest

from annotation.dataio.services import ImportRejected, import_file
from annotation.models import Dataset, ImportBatch, Judgement, Labeller, Pair, Prompt, Response
from tests.annotation.dataio.helpers import hh, judgement, write_jsonl
from tests.factories import DatasetFactory, LabellerFactory

pytestmark = pytest.mark.django_db


def counts():
    return (Prompt.objects.count(), Response.objects.count(), Pair.objects.count(), Judgement.objects.count(),
            Labeller.objects.count())


BAD_FILES = {
    "hh": [hh("q", "a", "b"), {"chosen": "\n\nHuman: q\n\nAssistant: same", "rejected": "\n\nHuman: q\n\nAssistant: same"}],
    "trl": [{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": "a"}],
    "tasks": [{"prompt": "q", "responses": ["a", "b"]}, {"prompt": "q", "responses": ["a"]}],
    "judgements": [judgement(), judgement(annotator="ann-2", choice="maybe")],
}
BAD_FIELD = {"hh": "rejected", "trl": "rejected", "tasks": "responses", "judgements": "choice"}


@pytest.mark.parametrize("fmt", BAD_FILES)
def test_a_file_with_a_bad_line_imports_nothing_and_names_line_and_field(tmp_path, fmt):
    path = write_jsonl(tmp_path / "f.jsonl", BAD_FILES[fmt])
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="new", file=path, format=fmt)
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, BAD_FIELD[fmt])]
    assert counts() == (0, 0, 0, 0, 0)
    assert not Dataset.objects.exists()  # a rejected first import creates no dataset


def test_a_rejection_into_an_existing_dataset_is_recorded_as_a_failed_batch(tmp_path):
    dataset = DatasetFactory(name="existing")
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="existing", file=write_jsonl(tmp_path / "f.jsonl", BAD_FILES["judgements"]))
    batch = caught.value.batch
    assert batch.dataset == dataset and batch.status == ImportBatch.Status.FAILED
    assert batch.errors[0]["line"] == 2 and batch.errors[0]["field"] == "choice"
    assert Pair.objects.count() == 0


@pytest.mark.parametrize("fmt", BAD_FILES)
def test_skip_invalid_imports_the_good_lines_and_lists_the_bad(tmp_path, fmt):
    batch = import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", BAD_FILES[fmt]), format=fmt,
                        skip_invalid=True)
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert batch.n_pairs_created == 1
    assert [(e["line"], e["field"], e["severity"]) for e in batch.errors] == [(2, BAD_FIELD[fmt], "error")]


def test_hh_import_writes_prompt_pair_and_one_imported_judgement(tmp_path):
    batch = import_file(dataset_name="hh", file=write_jsonl(tmp_path / "f.jsonl", [hh("Hi?", "Hello.", "Go away.")]))
    pair = Pair.objects.get()
    j = pair.judgements.get()
    chosen = pair.response_a if j.choice == "a" else pair.response_b
    assert chosen.text == "Hello." and pair.prompt.messages == [{"role": "user", "content": "Hi?"}]
    assert j.labeller.user.username == "hh-imported" and j.labeller.role == Labeller.Role.IMPORTED
    assert j.source == Judgement.Source.IMPORT and j.import_batch == batch and j.shown_left == ""
    assert pair.n_judgements == 1 and pair.origin == Pair.Origin.IMPORTED
    assert not j.labeller.user.has_usable_password()
    assert list(pair.dataset.labellers.all()) == [j.labeller]


def test_judgements_import_sets_every_field_and_keeps_counts_in_step(tmp_path):
    rows = [
        judgement(annotator="w1", choice="a", strength=3, shown_left="b", created_at="2024-01-02T03:04:05+00:00",
                  time_ms=900, gold="a", agrees_with_user="b", rationale="clear", flags={"b": ["harmful"]}),
        judgement(annotator="w2", choice="tie", gold="a", agrees_with_user="b"),
        judgement(annotator="w1", choice="b", is_repeat=True, gold="a", agrees_with_user="b"),
        judgement(pair_id="p2", annotator="w2", choice="both_bad"),
    ]
    batch = import_file(dataset_name="j", file=write_jsonl(tmp_path / "f.jsonl", rows))
    assert (batch.n_lines, batch.n_pairs_created, batch.n_judgements_created) == (4, 2, 4)
    pair = Pair.objects.get(external_id="p1")
    assert (pair.gold, pair.agrees_with_user, pair.n_judgements) == ("a", "b", 2)  # the repeat does not count
    assert (pair.response_a.source, pair.response_b.source) == ("model-x", "model-y")
    first = Judgement.objects.get(labeller__user__username="w1", is_repeat=False)
    assert (first.strength, first.shown_left, first.time_ms, first.rationale) == (3, "b", 900, "clear")
    assert first.created_at == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert first.flags == {"b": ["harmful"]}
    assert set(Dataset.objects.get(name="j").labellers.values_list("user__username", flat=True)) == {"w1", "w2"}


def test_tasks_import_writes_unlabelled_pairs(tmp_path):
    rows = [{"prompt": "Q?", "responses": [{"text": "r1", "model": "m1"}, {"text": "r2", "model": "m2"}, "r3"]}]
    batch = import_file(dataset_name="t", file=write_jsonl(tmp_path / "f.jsonl", rows))
    assert (batch.n_pairs_created, batch.n_judgements_created) == (3, 0)
    assert Response.objects.count() == 3 and Prompt.objects.count() == 1
    assert set(Response.objects.values_list("source", flat=True)) == {"m1", "m2", ""}


@pytest.mark.parametrize("fmt", BAD_FILES)
def test_reimporting_the_same_file_adds_nothing(tmp_path, fmt):
    path = write_jsonl(tmp_path / "f.jsonl", BAD_FILES[fmt][:1], gz=True)
    import_file(dataset_name="d", file=path)
    before = counts()
    again = import_file(dataset_name="d", file=path)
    assert counts() == before
    assert (again.n_pairs_created, again.n_judgements_created, again.n_duplicates) == (0, 0, 1)


def test_a_different_choice_for_an_existing_judgement_is_rejected(tmp_path):
    import_file(dataset_name="d", file=write_jsonl(tmp_path / "a.jsonl", [judgement(choice="a")]))
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="d", file=write_jsonl(tmp_path / "b.jsonl", [judgement(choice="b")]))
    assert (caught.value.errors[0].line, caught.value.errors[0].field) == (1, "choice")


def test_one_annotator_judging_one_pair_twice_in_a_file_needs_is_repeat(tmp_path):
    rows = [judgement(choice="a"), judgement(choice="b")]
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", rows))
    assert "is_repeat" in caught.value.errors[0].message
    rows[1]["is_repeat"] = True
    batch = import_file(dataset_name="d", file=write_jsonl(tmp_path / "g.jsonl", rows))
    assert batch.n_judgements_created == 2


def test_existing_accounts_are_reused_for_annotators(tmp_path):
    alice = LabellerFactory(user__username="alice")
    import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", [judgement(annotator="alice")]))
    assert Judgement.objects.get().labeller == alice
    alice.refresh_from_db()
    assert alice.role == Labeller.Role.LABELLER


def test_the_same_file_into_two_datasets_makes_two_copies(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [judgement(), judgement(annotator="ann-2")])
    import_file(dataset_name="one", file=path)
    import_file(dataset_name="two", file=path)
    assert Pair.objects.count() == 2 and Judgement.objects.count() == 4 and Labeller.objects.count() == 2


def test_the_shipped_hh_sample_imports_all_1000_pairs_and_again_nothing(tmp_path):
    path = "data/demo/hh-harmless-1000.jsonl.gz"
    batch = import_file(dataset_name="hh", file=path)
    assert (batch.n_pairs_created, batch.n_judgements_created) == (1000, 1000)
    assert [e["line"] for e in batch.errors] == [87, 517, 926]  # warnings: empty chosen turns, kept
    empty = Pair.objects.get(external_id="517")
    assert "" in (empty.response_a.text, empty.response_b.text)
    choices = set(Judgement.objects.values_list("choice", flat=True))
    assert choices == {"a", "b"}  # A/B are not chosen/rejected
    again = import_file(dataset_name="hh", file=path)
    assert (again.n_pairs_created, again.n_judgements_created, again.n_duplicates) == (0, 0, 1000)


def test_hh_lines_repeating_a_comparison_are_duplicates_or_contradictions(tmp_path):
    rows = [hh("q", "yes", "no"), hh("q", "yes", "no")]
    batch = import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", rows))
    assert (batch.n_pairs_created, batch.n_judgements_created, batch.n_duplicates) == (1, 1, 1)
    rows.append(hh("q", "no", "yes"))
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="e", file=write_jsonl(tmp_path / "g.jsonl", rows))
    (error,) = caught.value.errors
    assert (error.line, error.field) == (3, "chosen") and "opposite preference" in error.message


@pytest.mark.parametrize(("row", "field"), [(judgement(choice="tie"), "choice"), (judgement(strength=3), "strength")])
def test_judgements_outside_an_existing_datasets_choices_or_scale_are_rejected(tmp_path, row, field):
    DatasetFactory(name="binary", choices=["a", "b"], strength_scale={"1": "better", "2": "much better"})
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="binary", file=write_jsonl(tmp_path / "f.jsonl", [judgement(annotator="ok"), row]))
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, field)]
    assert "binary" in caught.value.errors[0].message and not Judgement.objects.exists()
