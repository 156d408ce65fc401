"""The command lines of SFT, PPO, DPO, KTO and SPIN (`python -m training.sft`, `training.runner`,
`training.dpo`, `training.kto`, `training.spin`, also what `accelerate launch` runs) answer bad
input with a usage error naming what is wrong."""
import json
import sys

import pytest

from training import dpo, kto, runner, sft, spin


def test_sft_names_the_line_of_the_demonstrations_that_lacks_a_field(tmp_path, capsys):
    demonstrations = tmp_path / "demonstrations.jsonl"
    demonstrations.write_text(json.dumps({"prompt": "Hi", "response": "Hello"}) + "\n"
                              + json.dumps({"prompt": "Hi"}) + "\n")

    with pytest.raises(SystemExit) as exit_:
        sft.main(["--demonstrations", str(demonstrations), "--out", str(tmp_path / "out")])

    assert exit_.value.code == 2
    assert "line 2: expected an object with 'prompt', 'response'" in capsys.readouterr().err


def test_sft_names_an_unknown_option(tmp_path, capsys):
    demonstrations = tmp_path / "demonstrations.jsonl"
    demonstrations.write_text(json.dumps({"prompt": "Hi", "response": "Hello"}) + "\n")

    with pytest.raises(SystemExit):
        sft.main(["--demonstrations", str(demonstrations), "--out", str(tmp_path / "out"),
                  "--config", json.dumps({"warp_speed": 9})])

    assert "Unknown SFT option(s): warp_speed" in capsys.readouterr().err


def test_ppo_names_a_mini_batch_that_does_not_divide_the_batch(tmp_path, capsys, monkeypatch):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Hello there\n")
    monkeypatch.setattr(sys, "argv", ["runner", "--sft", str(tmp_path), "--reward", str(tmp_path), "--prompts",
                                      str(prompts), "--out", str(tmp_path / "out"),
                                      "--config", json.dumps({"batch_size": 16, "mini_batch_size": 5})])

    with pytest.raises(SystemExit):
        runner.main()

    assert "divide batch_size" in capsys.readouterr().err


def test_sft_names_an_empty_demonstrations_file(tmp_path, capsys):
    demonstrations = tmp_path / "demonstrations.jsonl"
    demonstrations.write_text("\n")

    with pytest.raises(SystemExit):
        sft.main(["--demonstrations", str(demonstrations), "--out", str(tmp_path / "out")])

    assert "holds no demonstrations" in capsys.readouterr().err


def test_ppo_names_an_empty_prompts_file(tmp_path, capsys, monkeypatch):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n")
    monkeypatch.setattr(sys, "argv", ["runner", "--sft", str(tmp_path), "--reward", str(tmp_path), "--prompts",
                                      str(prompts), "--out", str(tmp_path / "out")])

    with pytest.raises(SystemExit):
        runner.main()

    assert "holds no prompts" in capsys.readouterr().err


def test_dpo_names_the_line_of_the_pairs_that_lacks_a_field(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello", "rejected": "Go"}) + "\n"
                     + json.dumps({"prompt": "Hi", "chosen": "Hello"}) + "\n")

    with pytest.raises(SystemExit) as exit_:
        dpo.main(["--pairs", str(pairs), "--start", str(tmp_path), "--out", str(tmp_path / "out")])

    assert exit_.value.code == 2
    assert "line 2: expected an object with 'prompt', 'chosen', 'rejected'" in capsys.readouterr().err


def test_kto_names_an_unknown_option(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "Hi", "chosen": "Hello", "rejected": "Go"}) + "\n")

    with pytest.raises(SystemExit):
        kto.main(["--pairs", str(pairs), "--start", str(tmp_path), "--out", str(tmp_path / "out"),
                  "--config", json.dumps({"warp_speed": 9})])

    assert "Unknown KTO option(s): warp_speed" in capsys.readouterr().err


def test_spin_names_an_empty_demonstrations_file(tmp_path, capsys):
    demonstrations = tmp_path / "demonstrations.jsonl"
    demonstrations.write_text("\n")

    with pytest.raises(SystemExit):
        spin.main(["--demonstrations", str(demonstrations), "--start", str(tmp_path), "--out", str(tmp_path / "out")])

    assert "holds nothing to learn from" in capsys.readouterr().err
