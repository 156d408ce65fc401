"""`python -m rewardmodel.launch` (what `accelerate launch` runs) answers bad input with a usage
error naming what is wrong."""
import json

import pytest

from rewardmodel import launch


def test_launch_names_the_line_of_the_pairs_that_is_not_json(tiny_backbone, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello", "rejected": "Go"}) + "\n{not json\n")

    with pytest.raises(SystemExit) as exit_:
        launch.main(["--base-model", tiny_backbone, "--pairs", str(pairs), "--output", str(tmp_path / "out")])

    assert exit_.value.code == 2
    assert "line 2: not JSON" in capsys.readouterr().err


def test_launch_names_an_unknown_option(tiny_backbone, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello", "rejected": "Go"}) + "\n")

    with pytest.raises(SystemExit):
        launch.main(["--base-model", tiny_backbone, "--pairs", str(pairs), "--output", str(tmp_path / "out"),
                     "--config", json.dumps({"warp_speed": 9})])

    assert "warp_speed" in capsys.readouterr().err
