"""`accelerate launch` of the reward-model trainer on two CPU processes gives the first step of
one process over the same global batch."""
import json

import pytest

from rewardmodel import launch
from tests.launch import accelerate_launch

# Five pairs in batches of 3: a step's two batches hold 3 and 2 pairs, so the two processes'
# own weights differ and a per-process loss normaliser would show.
PAIRS = [
    {"prompt": "Question one?", "chosen": "the cat sat near the river banana", "rejected": "a dog"},
    {"prompt": "Question two?", "chosen": "blue banana", "rejected": "green tree over the stone and rain"},
    {"prompt": "Question three, a longer one with more words?", "chosen": "quick banana", "rejected": "slow"},
    {"prompt": "Question four?", "chosen": "happy sun banana far", "rejected": "sad rain near"},
    {"prompt": "Question five?", "chosen": "red banana", "rejected": "red stone"},
]
CONFIG = {"batch_size": 3, "max_length": 64, "learning_rate": 1e-3, "checkpoint_steps": 0, "num_threads": 1,
          "mixed_precision": "no", "length_control": True}
# Two processes sum the same terms in another order: float32 rounding, far below the ~20% a
# per-process normaliser changes here.
TOLERANCE = 1e-4


@pytest.mark.multiprocess
def test_two_processes_give_the_first_step_of_one(tiny_backbone, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))

    def args(out, **config):
        return ["--base-model", tiny_backbone, "--pairs", str(pairs), "--output", str(tmp_path / out),
                "--config", json.dumps({**CONFIG, **config})]

    launch.main(args("one", gradient_accumulation_steps=2))
    accelerate_launch("rewardmodel.launch", args("two"), num_processes=2, home=tmp_path)

    one, two = (json.loads((tmp_path / out / "model_card.json").read_text())["metrics"] for out in ("one", "two"))
    assert one["steps"] == two["steps"] == 1
    for name in ("loss", "grad_norm", "accuracy", "margin", "mean_reward", "num_tokens"):
        assert two["last"][name] == pytest.approx(one["last"][name], rel=TOLERANCE, abs=1e-6), name
