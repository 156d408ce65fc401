"""Same seed, same data, same settings: the same reward model, new score head included."""
import json
import random

import pytest

from rewardmodel.launch import main as launch_main
from tests.rewardmodel.conftest import MARKER, WORDS, sentence
from tests.weights import saved_weights_equal


@pytest.fixture(scope="module")
def headless_base(tmp_path_factory):
    """A causal LM folder without a score head, so that loading it as a reward model creates one."""
    from common.ml.tiny import tiny_causal_lm
    from common.ml.tokenizers import train_bpe_tokenizer

    root = tmp_path_factory.mktemp("headless")
    rng = random.Random(0)
    corpus = [" ".join(rng.choice(WORDS + [MARKER, "Human:", "Assistant:"]) for _ in range(20)) for _ in range(100)]
    tokenizer = train_bpe_tokenizer(corpus, vocab_size=300, save_dir=root / "base")
    tiny_causal_lm(tokenizer, n_layer=1, n_embd=32, n_head=2, n_positions=64).save_pretrained(root / "base")
    rng = random.Random(1)
    rows = [{"prompt": sentence(rng, 4), "chosen": sentence(rng, marker=True), "rejected": sentence(rng)} for _ in range(8)]
    (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def train(root, out: str, seed: int):
    config = {"max_length": 48, "batch_size": 4, "num_train_epochs": 1, "checkpoint_steps": 0, "num_threads": 1,
              "mixed_precision": "no", "seed": seed}
    launch_main(["--base-model", str(root / "base"), "--pairs", str(root / "pairs.jsonl"), "--output", str(root / out),
                 "--config", json.dumps(config)])
    return root / out


def test_two_reward_runs_with_one_seed_give_identical_weights(headless_base):
    first, second = train(headless_base, "first", seed=7), train(headless_base, "second", seed=7)

    assert saved_weights_equal(first, second)


def test_another_seed_gives_other_weights(headless_base):
    first, other = train(headless_base, "seed-7", seed=7), train(headless_base, "seed-8", seed=8)

    assert not saved_weights_equal(first, other)
