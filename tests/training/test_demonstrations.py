"""SFT and SPIN learn from what people preferred: AI labellers' votes do not pick the demonstration
(as reward-model selection leaves them out by default)."""
import pytest

from tests.factories import AIJudgementFactory, ModelLabellerFactory
from tests.training.factories import dataset_with_preferences
from training.selectors import sft_demonstrations

pytestmark = pytest.mark.django_db


def test_ai_votes_do_not_turn_the_peoples_preferred_response_into_the_rejected_one():
    dataset = dataset_with_preferences(1)  # people: two votes for A, one for B
    pair = dataset.pairs.get()
    for judge in (ModelLabellerFactory(), ModelLabellerFactory()):
        AIJudgementFactory(pair=pair, labeller=judge, verdicts=("b", "b"))

    [(_, demonstration)] = sft_demonstrations(dataset_id=dataset.pk)

    assert pair.response_a.text in demonstration
