import random

import pytest
from django.conf import settings

from tests.factories import DatasetFactory, JudgementFactory, LabellerFactory, PairFactory, PromptFactory, ResponseFactory

WORDS = "the a cat dog tree sun rain river stone blue green red quick slow happy sad over under near far".split()
MARKER = "banana"


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    """A local Hugging Face folder: a GPT-2 classifier of 2 layers x 64 built from a config and a
    BPE tokenizer trained on the test vocabulary. Nothing is downloaded."""
    from common.ml.tiny import tiny_reward_model
    from common.ml.tokenizers import train_bpe_tokenizer

    folder = tmp_path_factory.mktemp("tiny-backbone")
    rng = random.Random(0)
    corpus = [" ".join(rng.choice(WORDS + [MARKER, "Human:", "Assistant:", "Question"]) for _ in range(30)) for _ in range(300)]
    tokenizer = train_bpe_tokenizer(corpus, vocab_size=400, save_dir=folder)
    model = tiny_reward_model(tokenizer, n_layer=2, n_embd=64, n_head=2, n_positions=128)
    model.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def artifacts_dir(tmp_path, monkeypatch):
    """Run folders of this test only (also for a worker process started after this fixture)."""
    path = tmp_path / "artifacts"
    monkeypatch.setenv("ARBITER_ARTIFACTS_DIR", str(path))
    monkeypatch.setattr(settings, "ARBITER_ARTIFACTS_DIR", path)
    return path


def sentence(rng, n=8, marker=False):
    words = [rng.choice(WORDS) for _ in range(n)]
    if marker:
        words.insert(rng.randrange(len(words) + 1), MARKER)
    return " ".join(words)


def marker_dataset(n_pairs=60, *, votes=1, seed=0, **dataset_fields):
    """Pairs where the response containing the marker word wins (A or B at random); `votes`
    labellers judge every pair the same way."""
    rng = random.Random(seed)
    dataset = DatasetFactory(**dataset_fields)
    labellers = [LabellerFactory() for _ in range(votes)]
    pairs = []
    for i in range(n_pairs):
        prompt = PromptFactory(dataset=dataset, messages=[{"role": "user", "content": f"Question {i}: {sentence(rng, 5)}?"}])
        good, bad = sentence(rng, marker=True), sentence(rng)
        marker_on_a = rng.random() < 0.5
        a = ResponseFactory(prompt=prompt, text=good if marker_on_a else bad)
        b = ResponseFactory(prompt=prompt, text=bad if marker_on_a else good, source="model-y")
        pair = PairFactory(dataset=dataset, prompt=prompt, response_a=a, response_b=b)
        for labeller in labellers:
            JudgementFactory(pair=pair, labeller=labeller, choice="a" if marker_on_a else "b")
        pairs.append(pair)
    return dataset, pairs


def fast_config(**train):
    """Settings that learn the marker rule in a few seconds on a tiny model."""
    return {
        "train": {"max_length": 64, "batch_size": 8, "learning_rate": 3e-3, "num_train_epochs": 6,
                  "checkpoint_steps": 0, "num_threads": 1, **train},
        "selection": {"eval_fraction": 0.25},
    }
