"""The Data page: admin only, uploads with per-line errors, downloads, and untrusted text shown inert."""
import gzip
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation.dataio.services import import_file
from annotation.models import Dataset, ImportBatch, Pair
from tests.annotation.dataio.helpers import judgement, jsonl_upload, write_jsonl
from tests.factories import AdminLabellerFactory, JudgementFactory, LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db
SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


@pytest.mark.parametrize(("method", "url"), [
    ("get", "/data/"), ("post", "/data/import/"), ("get", "/data/imports/{batch}/"),
    ("get", "/data/datasets/{dataset}/export/trl/"),
])
def test_data_pages_send_anonymous_users_to_login_and_refuse_labellers(client, tmp_path, method, url):
    batch = import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", [judgement()]))
    url = url.format(batch=batch.pk, dataset=batch.dataset_id)
    anonymous = getattr(client, method)(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    client.force_login(LabellerFactory().user)
    assert getattr(client, method)(url).status_code == 403


def test_empty_state_explains_how_to_get_data(admin_client):
    page = admin_client.get("/data/").content.decode()
    assert "No datasets yet" in page and "seed_demo" in page and "No imports yet" in page


def test_data_page_lists_datasets_with_counts_and_export_links(admin_client, tmp_path):
    import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", [judgement(), judgement(annotator="b2")]))
    dataset = Dataset.objects.get()
    page = admin_client.get("/data/").content.decode()
    assert f"/data/datasets/{dataset.pk}/export/judgements-csv/" in page
    assert '<td class="num">1</td><td class="num">2</td><td class="num">2</td>' in page  # pairs, judgements, labellers


def test_upload_with_bad_lines_shows_each_error_and_imports_nothing(admin_client):
    rows = [judgement(), judgement(annotator="b2", choice="maybe"), "{oops"]
    response = admin_client.post("/data/import/", {"file": jsonl_upload(rows), "dataset": "d", "format": "auto"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was imported" in page and "choice" in page and "is not valid JSON" in page
    assert Pair.objects.count() == 0


def test_a_corrupt_gzip_upload_says_the_file_cannot_be_read_and_imports_nothing(admin_client):
    body = bytearray(gzip.compress(b"".join(json.dumps(judgement(pair_id=f"p{i}")).encode() + b"\n" for i in range(50))))
    body[15:25] = b"\xff" * 10  # inside the deflate stream
    response = admin_client.post("/data/import/", {"file": SimpleUploadedFile("f.jsonl.gz", bytes(body)),
                                                   "dataset": "d", "format": "auto", "skip_invalid": "on"})
    assert response.status_code == 400
    assert "Nothing was imported:</strong> the file cannot be read to its end." in response.content.decode()
    assert not Pair.objects.exists()


def test_htmx_upload_swaps_in_the_error_list(admin_client):
    rows = [judgement(annotator="b2", choice="maybe")]
    response = admin_client.post("/data/import/", {"file": jsonl_upload(rows), "dataset": "d", "format": "auto"},
                                 HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and page.lstrip().startswith('<section class="card" id="upload"')
    assert "<html" not in page and "must be one of" in page


def test_good_upload_redirects_to_its_import_page(admin_client):
    response = admin_client.post("/data/import/", {"file": jsonl_upload([judgement()]), "dataset": "d",
                                                   "format": "judgements"})
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/data/imports/{batch.pk}/"
    page = admin_client.get(response["Location"]).content.decode()
    assert "Imported" in page and "up.jsonl" in page


def test_skip_invalid_upload_lists_the_skipped_lines_on_the_import_page(admin_client):
    rows = [judgement(), judgement(annotator="b2", strength=9)]
    response = admin_client.post("/data/import/", {"file": jsonl_upload(rows), "dataset": "d", "format": "auto",
                                                   "skip_invalid": "on"}, follow=True)
    page = response.content.decode()
    assert "Skipped lines" in page and "strength" in page and "must be between 1 and 3" in page
    (row,) = admin_client.get("/data/").context["imports"]
    assert row[1:] == (1, 0)  # one invalid line skipped, no warnings


def test_export_links_download_streams(admin_client, tmp_path):
    import_file(dataset_name="d", file=write_jsonl(tmp_path / "f.jsonl", [judgement()]))
    dataset = Dataset.objects.get()
    for kind in ("trl", "judgements", "judgements-csv"):
        response = admin_client.get(f"/data/datasets/{dataset.pk}/export/{kind}/?min_agreement=0.5")
        assert response.status_code == 200 and response.streaming
    assert admin_client.get(f"/data/datasets/{dataset.pk}/export/other/").status_code == 404
    assert admin_client.get(f"/data/datasets/{dataset.pk}/export/trl/?min_agreement=2").status_code == 302


def test_untrusted_text_is_inert_on_the_data_pages(admin_client):
    rows = [judgement(pair_id=SCRIPT, annotator="b2", choice=SCRIPT)]
    response = admin_client.post("/data/import/", {"file": jsonl_upload(rows, name=f"{IMG}.jsonl"),
                                                   "dataset": SCRIPT, "format": "auto"})
    page = response.content.decode()
    assert SCRIPT not in page and IMG not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    Dataset.objects.create(name=SCRIPT, description=IMG)
    admin_client.post("/data/import/", {"file": jsonl_upload(rows, name=f"{IMG}.jsonl"), "dataset": SCRIPT,
                                        "format": "auto"})
    for url in ["/data/", f"/data/imports/{ImportBatch.objects.get().pk}/"]:
        page = admin_client.get(url).content.decode()
        assert SCRIPT not in page and IMG not in page and "&lt;script&gt;" in page


def test_untrusted_responses_are_inert_in_the_django_admin(client):
    client.force_login(AdminLabellerFactory(user__is_superuser=True).user)
    pair = PairFactory(response_a__text=SCRIPT, response_b__text=IMG, prompt__messages=[{"role": "user", "content": IMG}])
    JudgementFactory(pair=pair, rationale=SCRIPT)
    for url in ["/admin/annotation/response/", "/admin/annotation/pair/", "/admin/annotation/prompt/",
                f"/admin/annotation/response/{pair.response_a_id}/change/", "/admin/annotation/judgement/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert SCRIPT not in page and IMG not in page, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/admin/annotation/response/").content.decode()


def test_a_refused_labeller_sees_a_page_that_says_why(client):
    client.force_login(LabellerFactory().user)
    response = client.get("/data/")
    assert response.status_code == 403
    assert "Only admins can open this page." in response.content.decode()
