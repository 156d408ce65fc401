"""Parsing and validation of the four import formats (no database)."""
import gzip
import io
import json

import pytest

from annotation.dataio.hashing import response_hash
from annotation.dataio.reading import parse_file
from tests.annotation.dataio.helpers import hh, judgement, write_jsonl


def only_error(parsed):
    assert len(parsed.errors) == 1, parsed.issues
    return parsed.errors[0]


def test_hh_splits_shared_turns_into_the_prompt_and_final_turns_into_the_pair(tmp_path):
    row = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Help me?\n\nAssistant: Sure.",
           "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Help me?\n\nAssistant: No."}
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", [row]), format="hh")
    assert parsed.issues == []
    (record,) = parsed.records
    assert record.messages == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                               {"role": "user", "content": "Help me?"}]
    assert {record.a.text, record.b.text} == {"Sure.", "No."}
    chosen_side = record.a if record.judgement.choice == "a" else record.b
    assert chosen_side.text == "Sure." and record.judgement.annotator == "hh-imported"


def test_hh_orders_a_b_by_content_hash_not_by_chosen(tmp_path):
    rows = [hh(f"q{i}", f"good answer {i}", f"bad answer {i}") for i in range(20)]
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", rows), format="hh")
    choices = {r.judgement.choice for r in parsed.records}
    assert choices == {"a", "b"}  # chosen is not always A
    for r in parsed.records:
        assert response_hash(r.a.text) < response_hash(r.b.text)
        chosen = r.a if r.judgement.choice == "a" else r.b
        assert chosen.text.startswith("good")


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"chosen": "\n\nHuman: x\n\nAssistant: same", "rejected": "\n\nHuman: x\n\nAssistant: same"},
         "rejected", "identical"),
        ({"chosen": "\n\nHuman: x\n\nAssistant: a", "rejected": "\n\nHuman: y\n\nAssistant: b"},
         "rejected", "differs from chosen before the final Assistant turn"),
        ({"chosen": "\n\nHuman: only a question", "rejected": "\n\nHuman: only a question?"},
         "chosen", "does not end with an Assistant turn"),
        ({"chosen": "no turns at all", "rejected": "\n\nHuman: x\n\nAssistant: b"}, "chosen", "before the first"),
        ({"chosen": "\n\nAssistant: a", "rejected": "\n\nAssistant: b"}, "chosen", "no Human turn"),
        ({"chosen": "\n\nHuman: x\n\nAssistant: a"}, "rejected", "required"),
        ({"chosen": 3, "rejected": "x"}, "chosen", "must be a string"),
    ],
)
def test_hh_irregular_lines_are_rejected_naming_line_and_field(tmp_path, row, field, words):
    good = hh("fine", "yes", "no")
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", [good, row]), format="hh")
    error = only_error(parsed)
    assert (error.line, error.field) == (2, field)
    assert words in error.message
    assert len(parsed.records) == 1


def test_hh_empty_final_turn_is_kept_with_a_warning(tmp_path):
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", [hh("q", "", "Ok")]), format="hh")
    assert parsed.errors == []
    (warning,) = parsed.issues
    assert (warning.line, warning.field, warning.severity) == (1, "chosen", "warning")
    assert len(parsed.records) == 1


def test_the_shipped_hh_sample_parses_with_its_three_empty_chosen_turns():
    parsed = parse_file("data/demo/hh-harmless-1000.jsonl.gz", format="auto")
    assert parsed.format == "hh" and parsed.errors == [] and len(parsed.records) == 1000
    assert [(i.line, i.field) for i in parsed.issues] == [(87, "chosen"), (517, "chosen"), (926, "chosen")]


def test_trl_accepts_strings_and_conversational_messages(tmp_path):
    rows = [{"prompt": "Q?", "chosen": "yes", "rejected": "no"},
            {"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q2?"}],
             "chosen": [{"role": "assistant", "content": "fine"}],
             "rejected": [{"role": "assistant", "content": "bad"}]}]
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", rows), format="auto")
    assert parsed.format == "trl" and parsed.issues == []
    assert parsed.records[1].messages[0] == {"role": "system", "content": "Be brief."}
    assert parsed.records[0].judgement.annotator == "trl-imported"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"prompt": "", "chosen": "a", "rejected": "b"}, "prompt"),
        ({"prompt": [{"role": "robot", "content": "x"}], "chosen": "a", "rejected": "b"}, "prompt[0].role"),
        ({"prompt": "Q", "chosen": [{"role": "user", "content": "a"}], "rejected": "b"}, "chosen"),
        ({"prompt": "Q", "chosen": "same", "rejected": "same"}, "rejected"),
        ({"prompt": "Q", "chosen": "a"}, "rejected"),
    ],
)
def test_trl_bad_lines_name_the_field(tmp_path, row, field):
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", [row]), format="trl")
    assert (only_error(parsed).line, only_error(parsed).field) == (1, field)


def test_tasks_make_every_pair_of_two_or_more_responses(tmp_path):
    rows = [{"prompt": "Q?", "responses": ["r1", "r2", {"text": "r3", "model": "m3"}], "id": "t1", "tags": ["math"]},
            {"messages": [{"role": "user", "content": "Q2?"}], "responses": ["x", "y"]}]
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", rows), format="auto")
    assert parsed.format == "tasks" and parsed.issues == []
    assert len(parsed.records) == 3 + 1
    assert all(r.judgement is None for r in parsed.records)
    assert {r.external_id for r in parsed.records[:3]} == {"t1:0-1", "t1:0-2", "t1:1-2"}
    assert parsed.records[0].tags == ["math"]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"prompt": "Q", "responses": ["only one"]}, "responses"),
        ({"prompt": "Q", "responses": ["a", "a"]}, "responses[1]"),
        ({"prompt": "Q", "responses": ["a", 5]}, "responses[1]"),
        ({"responses": ["a", "b"]}, "prompt"),
        ({"prompt": "Q", "messages": [], "responses": ["a", "b"]}, "messages"),
    ],
)
def test_tasks_bad_lines_name_the_field(tmp_path, row, field):
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", [row]), format="tasks")
    assert only_error(parsed).field == field


def test_judgements_read_every_optional_field(tmp_path):
    row = judgement(strength=2, shown_left="b", created_at="2024-05-01T10:00:00Z", is_repeat=True,
                    agrees_with_user="a", gold="b", time_ms=1234, rationale="why", flags={"a": ["harmful"]})
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", [row]), format="auto")
    assert parsed.format == "judgements" and parsed.issues == []
    (r,) = parsed.records
    j = r.judgement
    assert (r.gold, r.agrees_with_user, r.a.source, r.external_id) == ("b", "a", "model-x", "p1")
    assert (j.strength, j.shown_left, j.is_repeat, j.time_ms, j.rationale) == (2, "b", True, 1234, "why")
    assert j.created_at.isoformat() == "2024-05-01T10:00:00+00:00" and j.flags == {"a": ["harmful"]}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"choice": "c"}, "choice"),
        ({"strength": 4}, "strength"),
        ({"shown_left": "left"}, "shown_left"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"is_repeat": "yes"}, "is_repeat"),
        ({"gold": "x"}, "gold"),
        ({"time_ms": -1}, "time_ms"),
        ({"annotator": "bad name!"}, "annotator"),
        ({"annotator": None}, "annotator"),
        ({"flags": {"a": ["nice"]}}, "flags.a"),
        ({"response_b": "A answer to p1", "model_b": "model-x"}, "response_b"),
        ({"pair_id": ""}, "pair_id"),
    ],
)
def test_judgements_bad_values_name_line_and_field(tmp_path, extra, field):
    parsed = parse_file(write_jsonl(tmp_path / "f.jsonl", [judgement(), judgement(**{"annotator": "ann-2", **extra})]),
                        format="judgements")
    error = only_error(parsed)
    assert (error.line, error.field) == (2, field)


def test_judgements_lines_of_one_pair_id_must_agree_on_the_pair(tmp_path):
    rows = [judgement(), judgement(annotator="ann-2", response_b="something else")]
    error = only_error(parse_file(write_jsonl(tmp_path / "f.jsonl", rows), format="judgements"))
    assert (error.line, error.field) == (2, "response_b") and "line 1" in error.message


def test_bad_json_and_non_objects_are_line_errors_and_blank_lines_are_ignored(tmp_path):
    path = write_jsonl(tmp_path / "f.jsonl", [judgement(), "", "{not json", "[1, 2]", judgement(annotator="ann-2")])
    parsed = parse_file(path, format="judgements")
    assert [(e.line, e.field) for e in parsed.errors] == [(3, "line"), (4, "line")]
    assert len(parsed.records) == 2


@pytest.mark.parametrize(("row", "fmt"), [(hh("q", "a", "b"), "hh"), ({"prompt": "q", "chosen": "a", "rejected": "b"}, "trl"),
                                          ({"prompt": "q", "responses": ["a", "b"]}, "tasks"), (judgement(), "judgements")])
def test_auto_detects_each_format_from_the_first_valid_line_gzip_or_plain(tmp_path, row, fmt):
    for gz in (False, True):
        path = write_jsonl(tmp_path / f"f{gz}.jsonl", ["{broken", row], gz=gz)
        parsed = parse_file(path, format="auto")
        assert parsed.format == fmt and len(parsed.records) >= 1


def test_auto_names_a_line_it_cannot_recognise(tmp_path):
    error = only_error(parse_file(write_jsonl(tmp_path / "f.jsonl", [{"text": "hello"}]), format="auto"))
    assert (error.line, error.field) == (1, "format")


def test_empty_file_and_corrupt_gzip_are_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert only_error(parse_file(empty)).field == "file"
    corrupt = tmp_path / "c.jsonl.gz"
    corrupt.write_bytes(gzip.compress(json.dumps(judgement()).encode() + b"\n")[:-12])
    assert only_error(parse_file(corrupt)).field == "file"


def test_reads_an_uploaded_file_object(tmp_path):
    data = gzip.compress((json.dumps(judgement()) + "\n").encode())
    parsed = parse_file(io.BytesIO(data), format="auto")
    assert parsed.format == "judgements" and len(parsed.records) == 1


def test_a_byte_order_mark_and_windows_line_ends_are_tolerated(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(judgement()).encode() + b"\r\n" + b"\xff\xfe\r\n")
    parsed = parse_file(path, format="auto")
    assert parsed.format == "judgements" and len(parsed.records) == 1
    assert [(e.line, e.field, e.message) for e in parsed.errors] == [(2, "line", "is not valid UTF-8")]
