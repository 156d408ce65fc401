import gzip
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "data" / "demo" / "hh-harmless-ratings.jsonl.gz"


def test_the_shipped_demo_ratings_regenerate_identically(tmp_path):
    out = tmp_path / "ratings.jsonl.gz"
    subprocess.run([sys.executable, str(ROOT / "scripts/make_hh_ratings.py"), "--out", str(out)], check=True,
                   capture_output=True)
    assert out.read_bytes() == SHIPPED.read_bytes()


def test_each_demo_comparison_gives_one_thumbs_up_and_one_thumbs_down_of_the_same_prompt():
    rows = [json.loads(line) for line in gzip.open(SHIPPED, "rt", encoding="utf-8")]
    assert len(rows) % 2 == 0
    for up, down in zip(rows[::2], rows[1::2]):
        assert (up["label"], down["label"]) == (True, False)
        assert up["prompt"] == down["prompt"] and up["completion"] != down["completion"]
