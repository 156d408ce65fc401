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


@pytest.fixture(scope="session")
def dpo_base_model(tmp_path_factory):
    """The DPO tests' start model: a tiny GPT-2 (128 positions) on a BPE tokenizer trained on the
    factory datasets' words."""
    from common.ml.tiny import tiny_causal_lm
    from common.ml.tokenizers import train_bpe_tokenizer
    from tests.training.factories import TOPICS

    path = tmp_path_factory.mktemp("dpo-base") / "model"
    texts = [f"Human: Tell me about {t} (1). Assistant: {t.capitalize()} is lovely; here is why. No idea about {t}."
             for t in TOPICS] * 3
    tok = train_bpe_tokenizer(texts, vocab_size=300, save_dir=path)
    tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2, n_positions=128).save_pretrained(path)
    return str(path)
