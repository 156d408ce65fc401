"""Export downloads as streamed HTTP responses (shared by the API and the Data page)."""
import re

from django.http import StreamingHttpResponse

from annotation.dataio.exports import judgements_csv_lines, judgements_jsonl_lines, trl_lines
from annotation.models import Dataset
from annotation.ratings.exports import ratings_lines


def export_response(dataset: Dataset, *, kind: str, csv: bool = False, min_agreement: float = 0.0):
    slug = re.sub(r"[^A-Za-z0-9]+", "-", dataset.name).strip("-").lower() or f"dataset-{dataset.pk}"
    if kind == "unpaired":
        fmt = "csv" if csv else "jsonl"
        lines, name = ratings_lines(dataset, fmt=fmt), f"{slug}-ratings.{fmt}"
        mime = "text/csv" if csv else "application/jsonl"
    elif kind == "trl":
        lines, name, mime = trl_lines(dataset, min_agreement=min_agreement), f"{slug}-trl.jsonl", "application/jsonl"
    elif csv:
        lines, name, mime = judgements_csv_lines(dataset), f"{slug}-judgements.csv", "text/csv"
    else:
        lines, name, mime = judgements_jsonl_lines(dataset), f"{slug}-judgements.jsonl", "application/jsonl"
    response = StreamingHttpResponse((line.encode("utf-8") for line in lines), content_type=f"{mime}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
