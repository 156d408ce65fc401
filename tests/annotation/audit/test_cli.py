import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from .factories import judged_dataset

pytestmark = pytest.mark.django_db


def test_audit_command_prints_one_json_document_with_the_documented_keys():
    dataset, _ = judged_dataset()
    out = StringIO()
    call_command("audit", "--dataset", dataset.name, "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert {"dataset", "n_judgements", "n_pairs", "n_labellers", "agreement", "labellers", "biases"} <= set(report)
    assert set(report["agreement"]) == {"percent", "cohen_kappa_mean", "fleiss_kappa", "krippendorff_alpha_nominal",
                                        "krippendorff_alpha_ordinal"}
    assert report["dataset"] == dataset.name and report["n_judgements"] == 72
    assert {"length", "position", "sycophancy", "fatigue", "speed", "by_locale", "by_expertise"} <= set(report["biases"])


def test_audit_command_names_an_unknown_dataset():
    with pytest.raises(CommandError, match="No dataset named 'nope'"):
        call_command("audit", "--dataset", "nope", "--json")
