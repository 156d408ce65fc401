import hashlib

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotation.models import AILabeller, Constitution, Dataset, Judgement, Labeller, Pair, Prompt, Response


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


# ---- AI labellers (issue 14): a labeller of kind "model" and its judgements with ai_detail ----

class ConstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Constitution

    name = factory.Sequence(lambda n: f"constitution-{n}")
    principles = ["Choose the response that is more helpful and honest.", "Choose the less harmful response."]


class ModelLabellerFactory(LabellerFactory):
    """A labeller of kind "model" with its AILabeller row (a local causal LM judge by default)."""

    class Meta:
        skip_postgeneration_save = True

    kind = Labeller.Kind.MODEL
    role = Labeller.Role.AI
    ai = factory.RelatedFactory("tests.factories.AILabellerFactory", factory_related_name="labeller")


class AILabellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AILabeller

    labeller = factory.SubFactory(ModelLabellerFactory, ai=None)
    backend = AILabeller.Backend.CAUSAL_LM
    model_path = "/models/judge"
    constitution = factory.SubFactory(ConstitutionFactory)


def ai_detail(*, verdicts=("a", "a"), judge_model="judge-model", principle="Choose the less harmful response.") -> dict:
    """The record the ai_label job writes: one entry per order judged ("ab" then "ba"), the
    verdicts given in the pair's own terms (a / b / tie / None)."""
    orders = [{"order": o, "verdict": v, "p_a": None, "raw": str(v)} for o, v in zip(("ab", "ba"), verdicts)]
    agreed = len(verdicts) == 1 or len(set(verdicts)) == 1
    return {"principle": principle, "constitution": "constitution v1", "backend": "causal_lm",
            "judge_model": judge_model, "orders": orders, "agreed": agreed, "error": None}


class AIJudgementFactory(JudgementFactory):
    """An AI labeller's judgement: the final choice follows the two orders (tie when they disagree)."""

    class Params:
        verdicts = ("a", "a")
        judge_model = "judge-model"

    labeller = factory.SubFactory(ModelLabellerFactory)
    shown_left = ""
    choice = factory.LazyAttribute(lambda o: o.verdicts[0] if len(set(o.verdicts)) == 1 and o.verdicts[0] else "tie")
    ai_detail = factory.LazyAttribute(lambda o: ai_detail(verdicts=o.verdicts, judge_model=o.judge_model))
