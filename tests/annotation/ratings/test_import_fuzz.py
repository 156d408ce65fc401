"""Fuzzing the unpaired (ratings) import with the judgements importer's hostile values and broken
bytes: every file imports cleanly or is rejected with errors naming line and field, writing
nothing; never another exception."""
import gzip
import io

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from annotation.dataio.services import ImportRejected, import_file
from annotation.models import Dataset, ImportBatch, Labeller, Prompt, Rating, RatingItem, Response
from tests.annotation.dataio.test_import_fuzz import FUZZ, any_value, broken, clean_text, hostile_text, hostile_value, render

pytestmark = pytest.mark.django_db


@st.composite
def unpaired_line(draw) -> str:
    clean = draw(st.booleans())
    text = clean_text if clean else any_value
    line = {"prompt": draw(text), "completion": draw(text),
            "label": draw(st.booleans() if clean else st.one_of(st.booleans(), hostile_value, st.just("up"))),
            "annotator": draw(st.sampled_from(["w1", "w2"] if clean else ["w1", "=x", ""])),
            "rationale": draw(text),
            "flags": draw(st.just(["harmful"]) if clean else st.one_of(st.just(["harmful"]), hostile_value)),
            "gold_label": draw(st.sampled_from([None, True, False] if clean else [None, True, "x", 2]))}
    if not clean and draw(st.booleans()):
        line[draw(st.one_of(st.just("ignored"), hostile_text))] = draw(hostile_value)
    return render(line)


@st.composite
def unpaired_file(draw) -> bytes:
    lines = draw(st.lists(unpaired_line(), min_size=1, max_size=4))
    body = "".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass")
    return broken(draw, gzip.compress(body) if draw(st.booleans()) else body)


def stored_counts():
    return tuple(model.objects.count() for model in (Dataset, Prompt, Response, RatingItem, Rating, Labeller))


@FUZZ
@given(body=unpaired_file(), skip_invalid=st.booleans(), dataset_name=st.sampled_from(["fuzz-1", "fuzz-2"]))
def test_a_fuzzed_unpaired_file_imports_cleanly_or_is_rejected_writing_nothing(body, skip_invalid, dataset_name):
    before = stored_counts()
    try:
        batch = import_file(dataset_name=dataset_name, file=io.BytesIO(body), format="unpaired",
                            skip_invalid=skip_invalid)
    except ImportRejected as exc:
        event("rejected")
        assert exc.errors and all(e.line >= 1 and e.field and e.message for e in exc.errors)
        assert stored_counts() == before
    else:
        event("imported")
        assert batch.status == ImportBatch.Status.SUCCEEDED and batch.format == "unpaired"
        assert all(1 <= issue["line"] <= batch.n_lines for issue in batch.errors)
        assert skip_invalid or all(issue["severity"] == "warning" for issue in batch.errors)
        items = RatingItem.objects.filter(dataset__name=dataset_name)
        assert all(i.n_ratings == i.ratings.filter(is_repeat=False, superseded=False).count() for i in items)
