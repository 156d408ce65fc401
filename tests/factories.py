import hashlib

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotation.models import Dataset, Judgement, Labeller, Pair, Prompt, Response


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create and results:
            instance.save(update_fields=["password"])


class LabellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Labeller

    user = factory.SubFactory(UserFactory)
    role = Labeller.Role.LABELLER


class AdminLabellerFactory(LabellerFactory):
    role = Labeller.Role.ADMIN
    user = factory.SubFactory(UserFactory, is_staff=True)


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    name = factory.Sequence(lambda n: f"dataset-{n}")
    overlap_k = 3
    repeat_rate = 0.0


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    dataset = factory.SubFactory(DatasetFactory)
    messages = factory.Sequence(lambda n: [{"role": "user", "content": f"Question number {n}?"}])
    content_hash = factory.LazyAttribute(lambda o: sha(repr(o.messages)))


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    prompt = factory.SubFactory(PromptFactory)
    text = factory.Sequence(lambda n: f"Answer number {n}.")
    source = "model-x"
    length_chars = factory.LazyAttribute(lambda o: len(o.text))
    content_hash = factory.LazyAttribute(lambda o: sha(o.text))


class PairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pair

    dataset = factory.SubFactory(DatasetFactory)
    prompt = factory.SubFactory(PromptFactory, dataset=factory.SelfAttribute("..dataset"))
    response_a = factory.SubFactory(ResponseFactory, prompt=factory.SelfAttribute("..prompt"))
    response_b = factory.SubFactory(ResponseFactory, prompt=factory.SelfAttribute("..prompt"), source="model-y")
    content_hash = factory.Sequence(lambda n: sha(f"pair-{n}"))


class JudgementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Judgement

    pair = factory.SubFactory(PairFactory)
    labeller = factory.SubFactory(LabellerFactory)
    choice = "a"
    shown_left = "a"
    created_at = factory.LazyFunction(timezone.now)
