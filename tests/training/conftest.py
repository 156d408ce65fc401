import random

import pytest

from tests.training import toy


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests' models are tiny: one thread is faster than two fighting over a shared CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory):
    """The PPO toy task's folders (root/"sft": a tiny policy with 64 positions, root/"rm": the
    marker reward model, 64 positions) and 64 prompts of five toy words."""
    root = tmp_path_factory.mktemp("toy")
    toy.save_policy(root / "sft")
    toy.save_marker_reward_model(root / "rm")
    rng = random.Random(0)
    # Prompts end in a space: the word-level tokenizer decodes responses without a leading one.
    prompts = [" ".join(rng.choice(toy.WORDS[:-1]) for _ in range(5)) + " " for _ in range(64)]
    return root, prompts
