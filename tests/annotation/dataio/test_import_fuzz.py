"""Fuzzing the import: files of each format, gzip or not, with hostile values (NUL, lone surrogates,
deep nesting, huge integers, wrong types, formulas) and broken bytes (truncated, flipped, not UTF-8).
Every file either imports cleanly or is rejected with errors naming line and field, writing nothing;
never another exception. Driven through import_file, the service import_data, the Data page and
the upload API all call, plus the upload API itself."""
import gzip
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from annotation.dataio.exports import JUDGEMENT_FIELDS, export_judgements
from annotation.dataio.services import ImportRejected, import_file
from annotation.models import Dataset, ImportBatch, Judgement, Labeller, Pair, Prompt, Response
from common.csv import formula_safe_writer
from tests.annotation.dataio.test_exports import judgement_snapshot, pair_snapshot
from tests.factories import AdminLabellerFactory

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Raw(str):
    """A JSON fragment written into the line as it is (what json.dumps cannot produce)."""


storable_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
hostile_text = st.builds(lambda before, bad, after: before + bad + after, storable_text,
                         st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d"]), storable_text)
formula_text = st.builds(lambda start, rest: start + rest, st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", "'="]),
                         storable_text)
hostile_value = st.one_of(
    hostile_text,
    st.integers(1, 1200).map(lambda depth: Raw("[" * depth + "]" * depth)),
    st.integers(1, 1200).map(lambda depth: Raw('{"k": ' * depth + "1" + "}" * depth)),
    st.integers(150, 6000).map(lambda digits: Raw("9" * digits)),
    st.sampled_from([None, True, 1.5, -7, [], {}, ["x"], {"role": "user"}, Raw("NaN"), Raw("1e999")]),
)
any_value = st.one_of(storable_text, formula_text, hostile_value)
clean_text = st.one_of(storable_text.map(lambda text: "t" + text), formula_text.map(lambda text: text + "t"))


def tagged(value, tag: str):
    """A text made distinct from the line's others (a non-text value stays as it is)."""
    return value + tag if isinstance(value, str) else value


def render(line: dict) -> str:
    return "{" + ", ".join(f"{json.dumps(key)}: {value if isinstance(value, Raw) else json.dumps(value)}"
                           for key, value in line.items()) + "}"


@st.composite
def line_of(draw, fmt: str) -> str:
    """A line of the format: half of them valid (formulas and odd characters included), the rest
    with any field, read or ignored, possibly hostile."""
    clean = draw(st.booleans())
    text = clean_text if clean else any_value
    prompt, chosen, rejected = draw(text), tagged(draw(text), " a"), tagged(draw(text), " b")
    if fmt == "hh":
        line = {"chosen": f"\n\nHuman: {prompt}\n\nAssistant: {chosen}" if isinstance(chosen, str) else chosen,
                "rejected": f"\n\nHuman: {prompt}\n\nAssistant: {rejected}" if isinstance(rejected, str) else rejected}
    elif fmt == "trl":
        line = {"prompt": prompt, "chosen": chosen, "rejected": rejected, "model_chosen": draw(text)}
    elif fmt == "tasks":
        line = {"prompt": prompt,
                "responses": [chosen, rejected, tagged(draw(text), " c")][: draw(st.integers(2 if clean else 1, 3))],
                "tags": draw(st.just(["t"]) if clean else st.one_of(st.just(["t"]), hostile_value))}
    else:
        line = {"pair_id": draw(text if clean else st.one_of(st.sampled_from(["p1", "p2"]), text)), "prompt": prompt,
                "response_a": chosen, "response_b": rejected,
                "annotator": draw(st.sampled_from(["w1", "w2"] if clean else ["w1", "w2", "=x"])),
                "choice": draw(st.sampled_from(["a", "b", "tie"] if clean else ["a", "b", "tie", "maybe"])),
                "rationale": draw(text),
                "time_ms": draw(st.integers(0, 10_000) if clean else st.one_of(st.integers(-1, 10_000), hostile_value))}
    if not clean and draw(st.booleans()):
        line[draw(st.one_of(st.just("ignored"), hostile_text))] = draw(hostile_value)
    return render(line)


def broken(draw, body: bytes) -> bytes:
    """The file's bytes, sometimes cut short, with a byte changed or with a byte that is not UTF-8."""
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip", "not utf-8"]))
    if not body or damage == "none":
        return body
    at = draw(st.integers(0, len(body) - 1))
    if damage == "truncate":
        return body[:at]
    if damage == "flip":
        return body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1:]
    return body[:at] + b"\xff" + body[at:]


@st.composite
def jsonl_file(draw, fmt: str) -> bytes:
    lines = draw(st.lists(line_of(fmt), min_size=1, max_size=4))
    body = "".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass")
    return broken(draw, gzip.compress(body) if draw(st.booleans()) else body)


@st.composite
def judgements_csv_file(draw) -> bytes:
    """A judgements CSV as Arbiter writes it (every column of JUDGEMENT_FIELDS), cells fuzzed."""
    out = io.StringIO()
    writer = formula_safe_writer(out)
    writer.writerow(JUDGEMENT_FIELDS)
    for _ in range(draw(st.integers(1, 4))):
        clean = draw(st.booleans())
        text = clean_text if clean else any_value
        cells = (lambda good, bad: st.sampled_from(good if clean else good + bad))
        row = {"pair_id": draw(text if clean else st.sampled_from(["p1", "p2", "'=x"])),
               "prompt": draw(st.one_of(st.just('[{"role": "user", "content": "q"}]'), text)),
               "response_a": tagged(draw(text), " a"), "response_b": tagged(draw(text), " b"),
               "annotator": draw(st.sampled_from(["w1", "w2"])), "choice": draw(cells(["a", "b", "tie"], ["x"])),
               "strength": draw(cells(["", "2"], ["x"])), "time_ms": draw(cells(["", "5"], ["-1", "9" * 5000])),
               "rationale": draw(text), "flags": draw(cells(['{"a": ["harmful"]}'], ["{" * 2000, "[1]"]))}
        writer.writerow([str(row.get(key, "")) for key in JUDGEMENT_FIELDS])
    body = out.getvalue().encode("utf-8", "surrogatepass")
    return broken(draw, gzip.compress(body) if draw(st.booleans()) else body)


def stored_counts():
    return tuple(model.objects.count() for model in (Dataset, Prompt, Response, Pair, Judgement, Labeller))


def import_cleanly_or_reject(body: bytes, *, dataset_name: str, fmt: str, skip_invalid: bool) -> None:
    before = stored_counts()
    existed = Dataset.objects.filter(name=dataset_name).exists()
    failed_before = ImportBatch.objects.filter(status=ImportBatch.Status.FAILED).count()
    try:
        batch = import_file(dataset_name=dataset_name, file=io.BytesIO(body), format=fmt, skip_invalid=skip_invalid)
    except ImportRejected as exc:
        event(f"rejected ({exc.errors[0].field if exc.errors[0].field in ('file', 'line') else 'a field'})")
        assert exc.errors and all(e.line >= 1 and e.field and e.message for e in exc.errors)
        assert stored_counts() == before
        # Into an existing dataset the rejection is recorded (its errors stored as they are).
        assert ImportBatch.objects.filter(status=ImportBatch.Status.FAILED).count() == failed_before + existed
    else:
        event("imported, with skipped lines" if any(i["severity"] == "error" for i in batch.errors) else "imported")
        assert batch.status == ImportBatch.Status.SUCCEEDED
        assert all(1 <= issue["line"] <= batch.n_lines for issue in batch.errors)
        assert skip_invalid or all(issue["severity"] == "warning" for issue in batch.errors)


@pytest.mark.parametrize("fmt", ["hh", "trl", "tasks", "judgements"])
@FUZZ
@given(data=st.data())
def test_a_fuzzed_jsonl_file_imports_cleanly_or_is_rejected_writing_nothing(fmt, data):
    body = data.draw(jsonl_file(fmt))
    import_cleanly_or_reject(body, dataset_name=data.draw(st.sampled_from(["fuzz-1", "fuzz-2"])),
                             fmt=data.draw(st.sampled_from(["auto", fmt])), skip_invalid=data.draw(st.booleans()))


@FUZZ
@given(body=judgements_csv_file(), skip_invalid=st.booleans(), dataset_name=st.sampled_from(["fuzz-1", "fuzz-2"]))
def test_a_fuzzed_judgements_csv_imports_cleanly_or_is_rejected_writing_nothing(body, skip_invalid, dataset_name):
    import_cleanly_or_reject(body, dataset_name=dataset_name, fmt="auto", skip_invalid=skip_invalid)


round_trip_text = st.one_of(storable_text, formula_text, st.text(st.sampled_from('\'"=,\r\n\t x'), max_size=8))


@settings(FUZZ, max_examples=40)
@given(rows=st.lists(st.tuples(round_trip_text, round_trip_text, round_trip_text, round_trip_text),
                     min_size=1, max_size=3))
def test_any_storable_texts_round_trip_exactly_through_the_judgements_csv(rows):
    """Export as CSV, import into an empty dataset: the same pairs and judgements, texts exact."""
    lines = [{"pair_id": f"p{i}", "prompt": prompt + f" q{i}", "response_a": a + " a", "response_b": b + " b",
              "annotator": "w1", "choice": "a", "rationale": rationale} for i, (prompt, a, b, rationale) in enumerate(rows)]
    names = [f"round-trip-{Dataset.objects.count()}", f"round-trip-{Dataset.objects.count()}-copy"]
    import_file(dataset_name=names[0], file=io.BytesIO("".join(json.dumps(line) + "\n" for line in lines).encode()))
    out = io.StringIO()
    export_judgements(Dataset.objects.get(name=names[0]), out, fmt="csv")
    import_file(dataset_name=names[1], file=io.BytesIO(out.getvalue().encode()))
    source, copy = Dataset.objects.get(name=names[0]), Dataset.objects.get(name=names[1])
    assert pair_snapshot(copy) == pair_snapshot(source)
    assert judgement_snapshot(copy) == judgement_snapshot(source)


@pytest.fixture
def admin_http():
    client = Client()
    client.force_login(AdminLabellerFactory().user)
    return client


@settings(FUZZ, max_examples=30)
@given(body=jsonl_file("trl"))
def test_the_upload_api_answers_a_fuzzed_file_with_201_or_a_400_naming_line_and_field(admin_http, body):
    before = stored_counts()
    response = admin_http.post("/api/imports/create/", {"file": SimpleUploadedFile("f.jsonl", body),
                                                        "dataset": "fuzz-api"})
    assert response.status_code in (201, 400), response.content[:300]
    event(f"HTTP {response.status_code}")
    if response.status_code == 400:
        payload = response.json()
        if "file" in payload:  # an empty file, refused by the form before any import
            assert body == b""
        else:
            assert payload["errors"] and all(isinstance(e["line"], int) and e["field"] for e in payload["errors"])
        assert stored_counts() == before
