"""Writes the demo ratings file data/demo/hh-harmless-ratings.jsonl.gz: 100 comparisons of
hh-harmless-1000.jsonl.gz (lines 901-1000) turned into TRL's unpaired format the usual way
(as TRL's own KTO data sets are made from paired data): the chosen response is a thumbs up, the
rejected one a thumbs down, both by `hh-imported`. Comparisons whose transcripts cannot be split
into a shared prompt and two final answers, or with an empty answer, are left out. Deterministic.

    python scripts/make_hh_ratings.py [--first 901] [--n 100] [--out PATH]
"""
import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotation.dataio.hh import split_pair  # noqa: E402  (pure Python: no Django set-up needed)
from annotation.dataio.records import LineInvalid  # noqa: E402


def hh_ratings(lines: list[str]) -> list[dict]:
    rows = []
    for line in lines:
        data = json.loads(line)
        try:
            prompt, chosen, rejected = split_pair(data["chosen"], data["rejected"])
        except LineInvalid:
            continue
        if not chosen.strip() or not rejected.strip():
            continue
        for completion, label in ((chosen, True), (rejected, False)):
            rows.append({"prompt": prompt, "completion": completion, "label": label, "annotator": "hh-imported"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=901, help="First line (1-based) of the HH file to use.")
    parser.add_argument("--n", type=int, default=100, help="Number of comparisons to read.")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "demo" / "hh-harmless-ratings.jsonl.gz")
    args = parser.parse_args()
    with gzip.open(ROOT / "data" / "demo" / "hh-harmless-1000.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()[args.first - 1:args.first - 1 + args.n]
    rows = hh_ratings(lines)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    with open(args.out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
        out.write(text.encode("utf-8"))  # mtime 0, no name: the same bytes on every run
    print(f"Wrote {len(rows)} ratings to {args.out}")


if __name__ == "__main__":
    main()
