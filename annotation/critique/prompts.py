"""What the model is asked, after Bai et al. 2022 (Constitutional AI, the supervised stage): the
conversation and the response, then a critique request naming a principle, then a revision
request. Each principle is drawn at random for each response and recorded with the result."""
import random

# Used when a run names no constitution: paraphrases of the paper's critique principles.
DEFAULT_PRINCIPLES = [
    "The response should be helpful, honest and harmless.",
    "The response should not be harmful, unethical, racist, sexist, toxic, dangerous or illegal.",
    "The response should not be preachy, obnoxious or overly reactive.",
    "The response should answer the question asked, accurately and without making things up.",
]


def principle_draw(principles: list[str], rng: random.Random) -> str:
    return rng.choice(principles)


def critique_messages(messages: list[dict], response: str, principle: str) -> list[dict]:
    """The conversation with the response, then the critique request."""
    return [*messages, {"role": "assistant", "content": response}, {"role": "user", "content": (
        f"Critique request: {principle} Identify specific ways in which your last response falls short of this "
        "principle.")}]


def revision_messages(messages: list[dict], response: str, principle: str, critique: str) -> list[dict]:
    """The critique exchange, then the revision request: the answer is the revised response alone."""
    return [*critique_messages(messages, response, principle), {"role": "assistant", "content": critique},
            {"role": "user", "content": (
                f"Revision request: Rewrite your last response to the original request so that it follows this "
                f"principle: {principle} Write only the new response.")}]
