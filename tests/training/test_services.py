import hashlib

import pytest

from annotation.models import Pair
from common.exceptions import ApplicationError
from common.ml.tiny import tiny_causal_lm
from common.ml.tokenizers import train_bpe_tokenizer
from common.models import JobStatus
from tests.factories import DatasetFactory, PromptFactory
from tests.training.factories import PolicyRunFactory, RewardModelRunFactory, SFTRunFactory, dataset_with_preferences
from training.models import PolicyRun, SFTRun
from training.selectors import sft_demonstrations
from training.services import policy_run_create, policy_samples_send_to_annotation, sft_run_create

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def policy_folders(tmp_path_factory):
    """Two different tiny policies on one locally trained tokenizer."""
    root = tmp_path_factory.mktemp("policies")
    texts = [f"Human: question {i}? Assistant: answer {i} about things." for i in range(50)]
    for name, seed in (("sft", 0), ("ppo", 1)):
        tok = train_bpe_tokenizer(texts, vocab_size=300, save_dir=root / name)
        tiny_causal_lm(tok, seed=seed, n_layer=1, n_embd=32, n_head=2, n_positions=128).save_pretrained(root / name)
    return root


def test_demonstrations_are_the_majority_preferred_responses_with_their_conversation():
    dataset = dataset_with_preferences(3)

    demos = sft_demonstrations(dataset_id=dataset.pk)

    assert len(demos) == 3
    prompt, response = demos[0]
    assert prompt.startswith("\n\nHuman: Tell me about") and prompt.endswith("\n\nAssistant:")
    assert "is lovely" in response  # the A side won 2 votes to 1


def test_sft_run_create_refuses_a_dataset_without_preferences():
    dataset = DatasetFactory(name="empty-one")

    with pytest.raises(ApplicationError, match="empty-one"):
        sft_run_create(dataset=dataset, enqueue=False)
    assert not SFTRun.objects.exists()


def test_sft_run_create_refuses_unknown_options_by_name():
    with pytest.raises(ApplicationError, match="warp_speed"):
        sft_run_create(dataset=dataset_with_preferences(1), config={"warp_speed": 9}, enqueue=False)


def test_policy_run_create_needs_succeeded_sources():
    sft = SFTRunFactory(status=JobStatus.RUNNING)
    reward = RewardModelRunFactory(dataset=sft.dataset)
    PromptFactory(dataset=sft.dataset)

    with pytest.raises(ApplicationError, match=f"SFT run {sft.pk} is running"):
        policy_run_create(sft_run=sft, reward_run=reward, enqueue=False)
    assert not PolicyRun.objects.exists()


def test_policy_run_create_checks_that_mini_batches_divide():
    sft = SFTRunFactory()
    PromptFactory(dataset=sft.dataset)

    with pytest.raises(ApplicationError, match="divide"):
        policy_run_create(sft_run=sft, reward_run=RewardModelRunFactory(dataset=sft.dataset),
                          config={"batch_size": 16, "mini_batch_size": 5}, enqueue=False)


def test_send_to_annotation_creates_generated_pairs_with_the_run_and_randomised_sides(policy_folders):
    source = DatasetFactory()
    for i in range(20):
        PromptFactory(dataset=source, messages=[{"role": "user", "content": f"question {i}?"}])
    run = PolicyRunFactory(sft_run=SFTRunFactory(dataset=source, artifact_path=str(policy_folders / "sft")),
                           status=JobStatus.SUCCEEDED, artifact_path=str(policy_folders / "ppo"),
                           config={"max_new_tokens": 6})
    target = DatasetFactory()

    pairs = policy_samples_send_to_annotation(run=run, dataset=target, mode="policy_vs_sft", n_prompts=20, seed=3)

    assert len(pairs) == 20
    assert {p.origin for p in pairs} == {Pair.Origin.GENERATED}
    assert {p.origin_run for p in pairs} == {f"ppo:{run.pk}"}
    policy_on_a = sum(p.response_a.source == f"ppo:{run.pk}" for p in pairs)
    assert 0 < policy_on_a < 20  # both orders occur
    for p in pairs:
        assert {p.response_a.source, p.response_b.source} == {f"ppo:{run.pk}", f"sft:{run.sft_run_id}"}
        assert p.response_a.content_hash == hashlib.sha256(p.response_a.text.encode()).hexdigest()
        assert p.prompt.dataset_id == target.pk


def test_send_to_annotation_twice_adds_no_duplicate_pairs(policy_folders):
    source = DatasetFactory()
    PromptFactory(dataset=source, messages=[{"role": "user", "content": "question 1?"}])
    run = PolicyRunFactory(sft_run=SFTRunFactory(dataset=source, artifact_path=str(policy_folders / "sft")),
                           status=JobStatus.SUCCEEDED, artifact_path=str(policy_folders / "ppo"), config={"max_new_tokens": 6})
    target = DatasetFactory()

    first = policy_samples_send_to_annotation(run=run, dataset=target, n_prompts=1, seed=5)
    again = policy_samples_send_to_annotation(run=run, dataset=target, n_prompts=1, seed=5)

    assert len(first) == 1 and again == []
    assert Pair.objects.filter(dataset=target).count() == 1


def test_send_to_annotation_refuses_an_unfinished_run():
    run = PolicyRunFactory(status=JobStatus.RUNNING)

    with pytest.raises(ApplicationError, match="running"):
        policy_samples_send_to_annotation(run=run, dataset=DatasetFactory(), n_prompts=2)
