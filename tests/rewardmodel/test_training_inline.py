import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from common.models import JobStatus
from rewardmodel.execution import reward_run_execute
from rewardmodel.selection import SelectionConfig, select_examples
from rewardmodel.services import reward_run_create
from tests.rewardmodel.conftest import fast_config, marker_dataset

pytestmark = pytest.mark.django_db


def test_learns_a_marker_preference_to_over_90_percent_held_out_accuracy(tiny_backbone, artifacts_dir):
    dataset, _ = marker_dataset(80)
    run = reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config=fast_config(), enqueue=False)

    run = reward_run_execute(run_id=run.pk)

    assert run.status == JobStatus.SUCCEEDED, run.error
    evaluation = run.summary["evaluation"]
    assert evaluation["n_pairs"] >= 15
    assert evaluation["accuracy"] > 0.9
    assert run.data_snapshot["n_train_pairs"] + run.data_snapshot["n_eval_pairs"] == 80
    assert run.steps.filter(metrics__has_key="eval_accuracy").exists()


def test_the_artifact_is_a_plain_transformers_checkpoint_that_scores(tiny_backbone, artifacts_dir):
    dataset, _ = marker_dataset(80)
    run = reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config=fast_config(), enqueue=False)
    run = reward_run_execute(run_id=run.pk)
    assert run.summary["evaluation"]["accuracy"] > 0.9, run.summary

    model = AutoModelForSequenceClassification.from_pretrained(run.artifact_path)
    tokenizer = AutoTokenizer.from_pretrained(run.artifact_path)
    # The held-out pairs, scored with nothing but transformers: the reward is read at an appended EOS id.
    held_out = select_examples(dataset_id=dataset.pk, config=SelectionConfig(**fast_config()["selection"])).eval
    texts = [f"\n\nHuman: {e.messages[0]['content']}\n\nAssistant: {text}" for e in held_out for text in (e.chosen, e.rejected)]
    batch = tokenizer.pad({"input_ids": [tokenizer(t)["input_ids"] + [tokenizer.eos_token_id] for t in texts]}, return_tensors="pt")
    with torch.no_grad():
        rewards = model(**batch).logits[:, 0].view(-1, 2)  # (pairs, chosen / rejected)
    assert (rewards[:, 0] > rewards[:, 1]).float().mean() > 0.9, (rewards, run.summary)
    card = json.loads((artifacts_dir / "reward-runs" / str(run.pk) / "model" / "model_card.json").read_text())
    assert card["data_snapshot"]["judgement_ids_sha256"] == run.data_snapshot["judgement_ids_sha256"]
    assert card["config"]["train"]["learning_rate"] == 3e-3
    assert "accuracy" in card["metrics"]["evaluation"]
    assert card["metrics"]["evaluation"]["gold_accuracy_scope"].startswith("held-out prompts only")


def test_a_missing_backbone_fails_at_once_with_the_reason(artifacts_dir):
    dataset, _ = marker_dataset(4)

    run = reward_run_create(dataset=dataset, base_model_path="/nowhere/model", config=fast_config())

    assert run.status == JobStatus.FAILED
    assert "/nowhere/model does not exist" in run.error


def test_an_empty_selection_fails_with_a_clear_message(tiny_backbone, artifacts_dir):
    dataset, _ = marker_dataset(6)
    config = fast_config()
    config["selection"]["min_agreement"] = 1.0
    dataset.pairs.update()  # all pairs have one vote: agreement 1.0, so split them with a second opposite vote
    from tests.factories import JudgementFactory, LabellerFactory

    other = LabellerFactory()
    for pair in dataset.pairs.all():
        winner = pair.judgements.get().choice
        JudgementFactory(pair=pair, labeller=other, choice="b" if winner == "a" else "a")
    run = reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config=config, enqueue=False)

    run = reward_run_execute(run_id=run.pk)

    assert run.status == JobStatus.FAILED
    assert "data selection is empty" in run.error
    assert "below min agreement: 6" in run.error


def test_invalid_settings_are_refused_before_anything_is_written(tiny_backbone):
    from common.exceptions import ApplicationError
    from rewardmodel.models import RewardModelRun

    dataset, _ = marker_dataset(2)
    with pytest.raises(ApplicationError, match="max_length must be at least 8"):
        reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config={"train": {"max_length": 2}})
    with pytest.raises(ApplicationError, match="Unknown train setting"):
        reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config={"train": {"lr": 1}})
    assert not RewardModelRun.objects.exists()


def test_the_tie_aware_length_controlled_centred_variant_trains(tiny_backbone, artifacts_dir):
    from tests.factories import JudgementFactory, LabellerFactory

    dataset, pairs = marker_dataset(20)
    for pair in pairs[:5]:
        JudgementFactory(pair=pair, labeller=LabellerFactory(), choice="tie")
        JudgementFactory(pair=pair, labeller=LabellerFactory(), choice="both_bad")
    config = fast_config(num_train_epochs=2, loss_type="davidson", length_control=True, center_rewards_coefficient=0.01)
    run = reward_run_create(dataset=dataset, base_model_path=tiny_backbone, config=config, enqueue=False)

    run = reward_run_execute(run_id=run.pk)

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.config["selection"]["include_ties"] is True
    assert run.data_snapshot["n_pairs_used"] == 20  # the 5 tie-majority pairs are kept
    assert set(run.summary["loss_head"]) == {"length_coef", "tie_nu"}
    assert run.summary["loss_head"]["tie_nu"] != 1.0  # nu is learned
