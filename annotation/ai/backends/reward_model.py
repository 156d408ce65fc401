"""A trained reward model as a judge: both responses scored, p(A better) = sigmoid(r_A - r_B), the
Bradley-Terry probability the model was trained on. A reward model scores each response alone, so
the order it sees them in cannot matter: it is asked once (order "ab")."""
from scipy.special import expit

from annotation.ai.aggregation import OrderVerdict, verdict_from_probability
from common.exceptions import ApplicationError


class RewardModelJudge:
    judges_positions = False

    def __init__(self, run, *, tie_margin: float):
        if run is None:
            raise ApplicationError("This AI labeller has no reward-model run to judge with.")
        self.run = run
        self.judge_model = run.base_model_path or f"reward-run-{run.pk}"
        self.tie_margin = tie_margin

    def judge(self, *, messages: list[dict], first: str, second: str, order: str, principle: str) -> OrderVerdict:
        from rewardmodel.scoring import score_texts

        (score_first, score_second), _ = score_texts(run=self.run, items=[(messages, first), (messages, second)])
        p_first = float(expit(score_first - score_second))
        p_a = p_first if order == "ab" else 1.0 - p_first
        return OrderVerdict(order=order, verdict=verdict_from_probability(p_a, tie_margin=self.tie_margin), p_a=p_a,
                            raw=f"score(first)={score_first:.4f} score(second)={score_second:.4f}")
