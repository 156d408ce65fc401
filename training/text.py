"""How a conversation becomes the text a causal LM continues: the Anthropic HH layout
("\\n\\nHuman: ...\\n\\nAssistant: ..."), which the demo data already uses. SFT, PPO prompts and
samples sent to annotation all go through here, so the policy is always asked in one format.
(The HH transcript itself is common/ml/hh.py's, the same one a reward model reads.)"""
from annotation.dataio.hh import ROLE as HH_ROLE, TURN as HH_TURN
from common.ml.hh import hh_prompt


def render_prompt(messages: list[dict]) -> str:
    """[{role, content}, ...] -> the conversation, ending with the cue for the assistant's turn."""
    return hh_prompt(messages)


def prompt_messages(prompt: str) -> list[dict]:
    """The inverse of `render_prompt`: an HH-style prompt as [{role, content}] turns, without the
    open Assistant turn it ends with (the response completes it); a prompt that is not an HH
    transcript is one user turn."""
    parts = HH_TURN.split("\n\n" + prompt if prompt.startswith(("Human:", "Assistant:")) else prompt)
    if parts[0].strip() or len(parts) < 3:
        return [{"role": "user", "content": prompt.strip()}]
    turns = [{"role": HH_ROLE[parts[i]], "content": parts[i + 1].strip()} for i in range(1, len(parts), 2)]
    if turns[-1]["role"] == "assistant" and not turns[-1]["content"]:
        turns.pop()
    return turns


def render_response(text: str) -> str:
    return " " + text.strip()


def clean_response(generated: str) -> str:
    """A sampled continuation, cut where the model starts writing the next turn itself, without NUL
    characters (a byte-level model can sample the byte 0; PostgreSQL cannot store it)."""
    generated = generated.replace("\x00", "")
    cut = min((i for i in (generated.find("\n\nHuman:"), generated.find("\n\nAssistant:")) if i >= 0), default=-1)
    return (generated[:cut] if cut >= 0 else generated).strip()
