"""Trained weights load strictly: a checkpoint or a trained run whose weights do not fit is an
error naming them, never a head quietly initialised at random."""
import pytest
from safetensors.torch import load_file, save_file

from common.exceptions import ApplicationError
from rewardmodel.backbone import load_backbone
from rewardmodel.config import RewardTrainConfig
from rewardmodel.scoring import score_texts
from rewardmodel.text import PairExample, encode_examples
from rewardmodel.trainer import train
from tests.training.factories import RewardModelRunFactory


def tiny_pairs(tokenizer):
    examples = [PairExample(pair_id=i, prompt_id=i, messages=[{"role": "user", "content": f"Question {i}"}],
                            chosen="the cat banana", rejected="the dog") for i in range(8)]
    return encode_examples(tokenizer, examples, max_length=32, decoder=True)[0]


def test_resuming_from_a_checkpoint_with_a_missing_weight_is_an_error(tiny_backbone, tmp_path):
    cfg = RewardTrainConfig(max_length=32, batch_size=2, checkpoint_steps=1, num_threads=1, mixed_precision="no")
    model, tokenizer = load_backbone(tiny_backbone, seed=0)
    pairs = tiny_pairs(tokenizer)
    stopped = train(cfg, model=model, pad_token_id=tokenizer.pad_token_id, train_pairs=pairs, eval_pairs=[],
                    checkpoint_dir=tmp_path, on_step=lambda step, total, logs: step == 1)
    assert stopped.stopped
    weights_file = tmp_path / "last" / "model.safetensors"
    weights = load_file(str(weights_file))
    del weights["score.weight"]
    save_file(weights, str(weights_file))

    model, tokenizer = load_backbone(tiny_backbone, seed=0)
    with pytest.raises(RuntimeError, match="score.weight"):
        train(cfg, model=model, pad_token_id=tokenizer.pad_token_id, train_pairs=pairs, eval_pairs=[],
              checkpoint_dir=tmp_path)


@pytest.mark.django_db
def test_scoring_with_a_run_whose_folder_has_no_score_head_is_refused(tmp_path):
    from common.ml.tiny import tiny_causal_lm
    from common.ml.tokenizers import train_bpe_tokenizer

    folder = tmp_path / "headless"
    tokenizer = train_bpe_tokenizer(["the cat sat on the mat"] * 20, vocab_size=300, save_dir=folder)
    tiny_causal_lm(tokenizer, n_layer=1, n_embd=16, n_head=2, n_positions=32).save_pretrained(folder)
    run = RewardModelRunFactory(artifact_path=str(folder), config={"train": {"max_length": 32}})

    with pytest.raises(ApplicationError, match="missing keys: score.weight"):
        score_texts(run=run, items=[("Question?", "the cat")])
