"""Factories and model folders for the policy-run tests: a reward-model run whose model is a
tiny GPT-2 classifier with its own locally trained BPE tokenizer (not the policy's), and
datasets whose pairs have a majority-preferred response."""
from pathlib import Path

import factory

from common.ml.tiny import tiny_reward_model
from common.ml.tokenizers import train_bpe_tokenizer
from common.models import JobStatus
from rewardmodel.models import RewardModelRun
from tests.factories import DatasetFactory, JudgementFactory, LabellerFactory, PairFactory, PromptFactory, ResponseFactory
from training.models import PolicyRun, SFTRun

TOPICS = ["bread", "the moon", "tea", "rivers", "chess", "gardens", "trains", "music", "snow", "maps"]


def save_reward_model(path: Path, *, seed: int = 1) -> Path:
    texts = [f"Human: tell me about {t}. Assistant: {t} is a fine subject to talk about." for t in TOPICS] * 5
    tok = train_bpe_tokenizer(texts, vocab_size=300, save_dir=path)
    tiny_reward_model(tok, seed=seed, n_layer=1, n_embd=32, n_head=2, n_positions=256).save_pretrained(path)
    return path


class RewardModelRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RewardModelRun

    dataset = factory.SubFactory(DatasetFactory)
    base_model_path = "tiny"
    status = JobStatus.SUCCEEDED


class SFTRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SFTRun

    dataset = factory.SubFactory(DatasetFactory)
    status = JobStatus.SUCCEEDED


class PolicyRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PolicyRun

    sft_run = factory.SubFactory(SFTRunFactory)
    reward_run = factory.SubFactory(RewardModelRunFactory)
    dataset = factory.SelfAttribute("sft_run.dataset")


def dataset_with_preferences(n_pairs: int = 10, **dataset_fields):
    """Pairs on HH-like prompts, each judged 'a' by two labellers and 'b' by one: A wins."""
    dataset = DatasetFactory(**dataset_fields)
    labellers = [LabellerFactory() for _ in range(3)]
    for i in range(n_pairs):
        topic = TOPICS[i % len(TOPICS)]
        prompt = PromptFactory(dataset=dataset, messages=[{"role": "user", "content": f"Tell me about {topic} ({i})."}])
        pair = PairFactory(
            dataset=dataset, prompt=prompt,
            response_a=ResponseFactory(prompt=prompt, text=f"{topic.capitalize()} is lovely; here is why ({i})."),
            response_b=ResponseFactory(prompt=prompt, text=f"No idea about {topic}.", source="model-y"),
        )
        for labeller, choice in zip(labellers, ["a", "a", "b"]):
            JudgementFactory(pair=pair, labeller=labeller, choice=choice)
        pair.n_judgements = 3
        pair.save(update_fields=["n_judgements"])
    return dataset
