"""Exports: the judgements round trip and the TRL majority rules."""
import csv
import io
import json

import pytest
from django.utils import timezone

from annotation.dataio.exports import JUDGEMENT_FIELDS, export_judgements, export_trl
from annotation.dataio.services import ImportRejected, import_file
from annotation.models import Dataset, Judgement, LabellerExclusion, Pair
from tests.annotation.dataio.helpers import judgement, write_jsonl
from tests.factories import JudgementFactory, LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db


def pair_snapshot(dataset):
    return sorted(
        (p.external_id, json.dumps(p.prompt.messages), p.response_a.text, p.response_a.source, p.response_b.text,
         p.response_b.source, p.gold, p.agrees_with_user, p.n_judgements)
        for p in Pair.objects.filter(dataset=dataset).select_related("prompt", "response_a", "response_b"))


def judgement_snapshot(dataset):
    return sorted(
        (j.pair.external_id, j.labeller.user.username, j.choice, j.strength, j.shown_left, j.created_at.isoformat(),
         j.is_repeat, j.time_ms, j.rationale, json.dumps(j.flags, sort_keys=True))
        for j in Judgement.objects.filter(pair__dataset=dataset, superseded=False).select_related("pair", "labeller__user"))


def test_judgements_export_imported_into_an_empty_dataset_gives_back_the_same_pairs_and_judgements(tmp_path):
    rows = [
        judgement(annotator="w1", choice="a", strength=2, shown_left="b", created_at="2024-03-01T12:00:00+00:00",
                  time_ms=1500, gold="a", agrees_with_user="b", rationale="<b>bold</b> claim", flags={"a": ["harmful"]}),
        judgement(annotator="w2", choice="tie", gold="a", agrees_with_user="b", created_at="2024-03-01T12:01:00+00:00"),
        judgement(annotator="w1", choice="b", is_repeat=True, gold="a", agrees_with_user="b",
                  created_at="2024-03-02T12:00:00+00:00"),
        judgement(pair_id="p2", annotator="w3", choice="both_bad", prompt=[
            {"role": "system", "content": "Be kind."}, {"role": "user", "content": "Unicode ✓ 日本"}]),
    ]
    import_file(dataset_name="source", file=write_jsonl(tmp_path / "in.jsonl", rows))
    source = Dataset.objects.get(name="source")
    out = tmp_path / "export.jsonl"
    with open(out, "w") as f:
        assert export_judgements(source, f) == 4
    batch = import_file(dataset_name="copy", file=out)
    assert batch.errors == []
    copy = Dataset.objects.get(name="copy")
    assert pair_snapshot(copy) == pair_snapshot(source)
    assert judgement_snapshot(copy) == judgement_snapshot(source)


def test_judgements_export_of_app_made_judgements_round_trips(tmp_path):
    pair = PairFactory()
    JudgementFactory(pair=pair, choice="b", strength=1, time_ms=3000, shown_left="b")
    JudgementFactory(pair=pair, choice="a")
    buffer = io.StringIO()
    export_judgements(pair.dataset, buffer)
    path = tmp_path / "e.jsonl"
    path.write_text(buffer.getvalue())
    import_file(dataset_name="copy", file=path)
    copy = Dataset.objects.get(name="copy")
    assert [row[2:] for row in judgement_snapshot(copy)] == [row[2:] for row in judgement_snapshot(pair.dataset)]
    assert Pair.objects.get(dataset=copy).external_id == f"arbiter-pair-{pair.pk}"


def test_judgements_export_marks_superseded_and_excluded_and_the_import_skips_superseded(tmp_path):
    pair = PairFactory()
    old = JudgementFactory(pair=pair, choice="a", superseded=True)
    JudgementFactory(pair=pair, labeller=old.labeller, choice="b", revision_of=old)
    excluded = JudgementFactory(pair=pair, choice="a")
    LabellerExclusion.objects.create(labeller=excluded.labeller, reason="spam")
    buffer = io.StringIO()
    export_judgements(pair.dataset, buffer)
    rows = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [(r["choice"], r["superseded"], r["counted"], r["excluded"]) for r in rows] == [
        ("a", True, False, False), ("b", False, True, False), ("a", False, False, True)]
    path = tmp_path / "e.jsonl"
    path.write_text(buffer.getvalue())
    batch = import_file(dataset_name="copy", file=path)
    assert batch.n_judgements_created == 2
    assert [e["field"] for e in batch.errors] == ["superseded"]


def test_judgements_csv_has_a_header_and_one_row_a_judgement():
    pair = PairFactory(response_a__text='with "quotes", commas\nand newlines')
    JudgementFactory(pair=pair)
    buffer = io.StringIO()
    assert export_judgements(pair.dataset, buffer, fmt="csv") == 1
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert list(rows[0]) == JUDGEMENT_FIELDS
    assert rows[0]["response_a"] == 'with "quotes", commas\nand newlines'
    assert json.loads(rows[0]["prompt"]) == pair.prompt.messages


def test_judgements_csv_export_imports_back_like_the_jsonl(tmp_path):
    rows = [
        judgement(annotator="w1", choice="a", strength=2, shown_left="b", created_at="2024-03-01T12:00:00+00:00",
                  time_ms=1500, gold="a", rationale='"quoted", with a comma\nand a newline', flags={"a": ["harmful"]}),
        judgement(annotator="w2", choice="tie", gold="a", created_at="2024-03-01T12:01:00+00:00", response_b=""),
        judgement(annotator="w1", choice="b", is_repeat=True, gold="a", created_at="2024-03-02T12:00:00+00:00"),
        judgement(pair_id="p2", annotator="w3", choice="both_bad", prompt=[
            {"role": "system", "content": "Be kind."}, {"role": "user", "content": "Unicode ✓ 日本"}]),
    ]
    rows[1]["response_b"] = rows[0]["response_b"] = rows[2]["response_b"] = ""  # one pair, an empty response
    import_file(dataset_name="source", file=write_jsonl(tmp_path / "in.jsonl", rows))
    source = Dataset.objects.get(name="source")
    out = tmp_path / "export.csv"
    with open(out, "w", newline="") as f:
        assert export_judgements(source, f, fmt="csv") == 4
    batch = import_file(dataset_name="copy", file=out)
    assert [e["severity"] for e in batch.errors] == ["warning"]  # the empty response, as on the first import
    copy = Dataset.objects.get(name="copy")
    assert pair_snapshot(copy) == pair_snapshot(source)
    assert judgement_snapshot(copy) == judgement_snapshot(source)


def test_a_bad_csv_cell_names_the_line_its_row_starts_on(tmp_path):
    pair = PairFactory(response_a__text="two\nlines")
    JudgementFactory(pair=pair)
    JudgementFactory(pair=pair)
    buffer = io.StringIO()
    export_judgements(pair.dataset, buffer, fmt="csv")
    header, first, second = list(csv.reader(io.StringIO(buffer.getvalue())))
    second[JUDGEMENT_FIELDS.index("time_ms")] = "soon"
    path = tmp_path / "bad.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, first, second])
    with pytest.raises(ImportRejected) as caught:
        import_file(dataset_name="copy", file=path)
    assert [(e.line, e.field) for e in caught.value.errors] == [(4, "time_ms")]  # row 1 spans lines 2-3


def votes(pair, choices):
    return [JudgementFactory(pair=pair, choice=c) for c in choices]


def trl_rows(dataset, **kwargs):
    buffer = io.StringIO()
    export_trl(dataset, buffer, **kwargs)
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_trl_export_takes_the_strict_majority_and_leaves_out_ties_and_split_votes():
    clear = PairFactory(response_a__text="A wins", response_b__text="B loses")
    dataset = clear.dataset
    b_wins = PairFactory(dataset=dataset, response_a__text="A loses", response_b__text="B wins")
    tied = PairFactory(dataset=dataset)
    split = PairFactory(dataset=dataset)
    ties = PairFactory(dataset=dataset)
    votes(clear, "aab")
    votes(b_wins, "b")
    votes(tied, "ab")
    votes(split, ["a", "b", "tie"])
    votes(ties, ["tie", "tie", "a"])
    rows = trl_rows(dataset)
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
        ("A wins", "B loses"), ("B wins", "A loses")]
    assert rows[0]["prompt"] == clear.prompt.messages
    assert rows[0]["chosen"][0]["role"] == "assistant"


def test_trl_export_min_agreement_drops_weak_majorities():
    strong = PairFactory()
    weak = PairFactory(dataset=strong.dataset)
    votes(strong, "aaa")
    votes(weak, "aab")
    assert len(trl_rows(strong.dataset, min_agreement=0.0)) == 2
    assert len(trl_rows(strong.dataset, min_agreement=0.7)) == 1
    assert len(trl_rows(strong.dataset, min_agreement=1.0)) == 1


def test_trl_export_honours_exclusions_repeats_and_revisions():
    pair = PairFactory()
    spammer = LabellerFactory()
    JudgementFactory(pair=pair, choice="a")
    JudgementFactory(pair=pair, labeller=spammer, choice="b")
    JudgementFactory(pair=pair, labeller=LabellerFactory(), choice="b", superseded=True)
    JudgementFactory(pair=pair, choice="b", is_repeat=True)
    assert trl_rows(pair.dataset) == []  # a vs b: split
    LabellerExclusion.objects.create(labeller=spammer, dataset=pair.dataset, reason="spam",
                                     start=timezone.now() - timezone.timedelta(days=1))
    (row,) = trl_rows(pair.dataset)
    assert row["chosen"][0]["content"] == pair.response_a.text


def test_trl_export_is_importable_as_trl(tmp_path):
    pair = PairFactory()
    votes(pair, "b")
    path = tmp_path / "trl.jsonl"
    with open(path, "w") as f:
        export_trl(pair.dataset, f)
    batch = import_file(dataset_name="again", file=path)
    assert batch.format == "trl" and batch.n_pairs_created == 1
    j = Judgement.objects.get(pair__dataset__name="again")
    chosen = j.pair.response_a if j.choice == "a" else j.pair.response_b
    assert chosen.text == pair.response_b.text
