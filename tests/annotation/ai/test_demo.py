"""The demo AI labeller: the bundled MiniLM trained as a reward model, judging only the pairs whose
prompts its training held out; a second seed adds nothing."""
import pytest

from annotation.ai.demo import JUDGE_USERNAME, SELECTION, demo_ai_labeller_seed
from annotation.models import AILabeller, Judgement
from rewardmodel.selection import SelectionConfig, select_examples
from tests.rewardmodel.conftest import artifacts_dir, marker_dataset  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def test_the_demo_judge_is_trained_once_and_judges_only_held_out_pairs(artifacts_dir):
    dataset, _ = marker_dataset(30, name="demo-like")
    # the split the demo's reward run makes (before any AI judgement: those count as votes too)
    split = select_examples(dataset_id=dataset.pk, config=SelectionConfig(**SELECTION))
    result = demo_ai_labeller_seed(dataset_name="demo-like", n_pairs=10)
    assert (result.error, result.trained, result.created) == ("", True, True)
    ai = AILabeller.objects.get(labeller__user__username=JUDGE_USERNAME)
    assert ai.backend == "reward_model" and ai.labeller.kind == "model" and ai.constitution.name == "Demo constitution"
    judged = set(Judgement.objects.filter(labeller=ai.labeller).values_list("pair_id", flat=True))
    held_out = {e.pair_id for e in split.eval}
    assert judged and judged <= held_out and not judged & {e.pair_id for e in split.train}
    assert result.n_judged == len(judged) == min(10, len(held_out))
    for detail in Judgement.objects.filter(labeller=ai.labeller).values_list("ai_detail", flat=True):
        assert detail["constitution"] == "Demo constitution v1" and detail["backend"] == "reward_model"

    again = demo_ai_labeller_seed(dataset_name="demo-like", n_pairs=10)
    assert (again.trained, again.created, again.n_judged) == (False, False, 0)
    assert Judgement.objects.filter(labeller=ai.labeller).count() == len(judged)
