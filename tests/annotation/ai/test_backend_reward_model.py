"""The reward-model judge: p(A better) = sigmoid(r_A - r_B) from the run's own scores."""
import pytest
from scipy.special import expit

from annotation.ai.backends import backend_for
from annotation.ai.services import ai_labeller_create, pair_judge
from common.exceptions import ApplicationError
from rewardmodel.backbone import load_reward_model
from rewardmodel.reward import score_conversations
from tests.annotation.ai.conftest import make_pairs
from tests.training import toy
from tests.training.factories import RewardModelRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def marker_rm(tmp_path_factory):
    """The PPO toy's hand-set reward model: it pays for the word "banana"."""
    return str(toy.save_marker_reward_model(tmp_path_factory.mktemp("marker-rm")))


def test_the_response_with_more_reward_wins_with_the_bradley_terry_probability(marker_rm):
    run = RewardModelRunFactory(artifact_path=marker_rm, config={"train": {"max_length": 64}})
    ai = ai_labeller_create(username="rm-judge", backend="reward_model", reward_run=run)
    texts = [("the cat sat on the mat", "the banana sat on the banana mat")]
    _, (pair,) = make_pairs(1, texts=texts)
    combined, detail = pair_judge(ai=ai, backend=backend_for(ai), pair=pair, seed=0)
    model, tok = load_reward_model(marker_rm)
    (r_a, r_b), _ = score_conversations(model.eval(), tok, [(pair.prompt.messages, texts[0][0]),
                                                             (pair.prompt.messages, texts[0][1])], max_length=64)
    assert r_b > r_a
    assert detail["orders"][0]["p_a"] == pytest.approx(float(expit(r_a - r_b)), rel=1e-5)
    assert [o["order"] for o in detail["orders"]] == ["ab"]  # scores do not depend on the order shown
    assert combined.choice == "b" and detail["agreed"] is True


def test_only_a_succeeded_run_can_judge():
    run = RewardModelRunFactory(status="running", artifact_path="")
    with pytest.raises(ApplicationError, match="only a succeeded run"):
        ai_labeller_create(username="rm-judge", backend="reward_model", reward_run=run)
