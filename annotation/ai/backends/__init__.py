"""A backend judges one pair in one order and returns an OrderVerdict. `judges_positions` is False
for a backend that scores each response on its own (a reward model): the order cannot change its
verdict, so it is asked once."""
from annotation.ai.aggregation import DEFAULT_STRENGTH_CUTS, DEFAULT_TIE_MARGIN


def backend_for(ai):
    """The backend of an AILabeller row, configured from its settings."""
    from annotation.models import AILabeller

    settings = ai.settings or {}
    tie_margin = float(settings.get("tie_margin", DEFAULT_TIE_MARGIN))
    if ai.backend == AILabeller.Backend.CAUSAL_LM:
        from annotation.ai.backends.causal_lm import CausalLMJudge

        return CausalLMJudge(ai.model_path, template=ai.prompt_template, tie_margin=tie_margin,
                             max_length=settings.get("max_length"))
    if ai.backend == AILabeller.Backend.REWARD_MODEL:
        from annotation.ai.backends.reward_model import RewardModelJudge

        return RewardModelJudge(ai.reward_run, tie_margin=tie_margin)
    from annotation.ai.backends.chat_endpoint import ChatEndpointJudge, EndpointSettings
    from annotation.ai.secrets import api_key_for

    return ChatEndpointJudge(
        EndpointSettings.from_labeller(ai), api_key=api_key_for(ai), template=ai.prompt_template, tie_margin=tie_margin,
    )


def strength_cuts(ai) -> tuple[float, float]:
    return tuple((ai.settings or {}).get("strength_cuts", DEFAULT_STRENGTH_CUTS))
