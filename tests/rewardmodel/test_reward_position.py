"""A decoder reward model whose tokenizer has no pad token gets pad = EOS; its reward must be read
at the EOS it was trained at, by training, evaluation, `score` and PPO alike."""
import json
import random

import pytest
import torch
from django.core.management import call_command

from rewardmodel.launch import main as launch_main
from tests.rewardmodel.conftest import MARKER, WORDS, sentence
from tests.training.factories import RewardModelRunFactory

pytestmark = pytest.mark.django_db
MAX_LENGTH = 64


def marker_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"prompt": f"Question {i}: {sentence(rng, 5)}?", "chosen": sentence(rng, marker=True), "rejected": sentence(rng)}
            for i in range(n)]


@pytest.fixture(scope="module")
def trained_pad_is_eos(tmp_path_factory):
    """A tiny GPT-2 reward model whose tokenizer has no pad token, trained on the marker task
    (the response with the marker word wins) with the shared-prompt layout; evaluated during
    training on the same pairs it trained on."""
    from common.ml.tiny import tiny_reward_model
    from common.ml.tokenizers import train_bpe_tokenizer

    root = tmp_path_factory.mktemp("pad-is-eos")
    base = root / "base"
    rng = random.Random(0)
    corpus = [" ".join(rng.choice(WORDS + [MARKER, "Human:", "Assistant:", "Question"]) for _ in range(30)) for _ in range(300)]
    tokenizer = train_bpe_tokenizer(corpus, vocab_size=400, save_dir=base, pad=False)
    assert tokenizer.pad_token is None
    tiny_reward_model(tokenizer, n_layer=2, n_embd=64, n_head=2, n_positions=128).save_pretrained(base)
    pairs = root / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(row) + "\n" for row in marker_rows(48, seed=1)))
    config = {"max_length": MAX_LENGTH, "batch_size": 8, "learning_rate": 3e-3, "num_train_epochs": 6,
              "checkpoint_steps": 0, "num_threads": 1, "mixed_precision": "no"}
    summary = launch_main(["--base-model", str(base), "--pairs", str(pairs), "--eval-pairs", str(pairs),
                           "--output", str(root / "model"), "--config", json.dumps(config)])
    return root / "model", pairs, summary


@pytest.fixture
def reward_run(trained_pad_is_eos):
    model_dir, _, _ = trained_pad_is_eos
    return RewardModelRunFactory(artifact_path=str(model_dir), config={"train": {"max_length": MAX_LENGTH}})


def test_training_score_and_ppo_read_the_same_reward(trained_pad_is_eos, reward_run):
    from rewardmodel.backbone import load_reward_model
    from rewardmodel.batching import collate_shared_prefix
    from rewardmodel.scoring import score_texts
    from rewardmodel.text import PairExample, encode_examples
    from rewardmodel.trainer import PairRewardModel
    from training.ppo import score_responses
    from training.text import render_prompt

    model_dir, _, _ = trained_pad_is_eos
    model, tokenizer = load_reward_model(str(model_dir))
    model.eval()
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    rows = marker_rows(6, seed=2)
    messages = [[{"role": "user", "content": row["prompt"]}] for row in rows]
    responses = [row["chosen"] for row in rows] + [row["rejected"] for row in rows]

    examples = [PairExample(pair_id=i, prompt_id=i, messages=m, chosen=row["chosen"], rejected=row["rejected"])
                for i, (m, row) in enumerate(zip(messages, rows))]
    encoded, _ = encode_examples(tokenizer, examples, max_length=MAX_LENGTH, decoder=True)
    with torch.no_grad():
        r_w, r_l = PairRewardModel(model, rows=True)(collate_shared_prefix(encoded, tokenizer.pad_token_id))
    from_training = r_w.tolist() + r_l.tolist()

    from_score, _ = score_texts(run=reward_run, items=list(zip(messages * 2, responses)))

    # PPO: prompts as the policy reads them, responses as decoded from its tokens
    prompts = [render_prompt(m) for m in messages] * 2
    from_ppo = score_responses(model, tokenizer, prompts, [" " + r for r in responses], max_length=MAX_LENGTH).tolist()

    assert from_score == pytest.approx(from_training, abs=1e-4)
    assert from_ppo == pytest.approx(from_training, abs=1e-4)


def test_evaluation_during_training_and_evaluate_reward_model_agree_on_a_learnt_task(trained_pad_is_eos, reward_run, capsys):
    _, pairs, summary = trained_pad_is_eos

    call_command("evaluate_reward_model", "--run", str(reward_run.pk), "--input", str(pairs), "--json")
    evaluated = json.loads(capsys.readouterr().out)

    assert evaluated["n_pairs"] == 48
    assert summary["last"]["eval_accuracy"] > 0.9
    assert evaluated["accuracy"] == pytest.approx(summary["last"]["eval_accuracy"])
