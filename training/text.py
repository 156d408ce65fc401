"""How a conversation becomes the text a causal LM continues: the Anthropic HH layout
("\\n\\nHuman: ...\\n\\nAssistant: ..."), which the demo data already uses. SFT, PPO prompts and
samples sent to annotation all go through here, so the policy is always asked in one format."""

ROLE_NAMES = {"user": "Human", "human": "Human", "assistant": "Assistant", "system": "System"}


def render_prompt(messages: list[dict]) -> str:
    """[{role, content}, ...] -> the conversation, ending with the cue for the assistant's turn."""
    turns = [f"\n\n{ROLE_NAMES.get(m['role'], m['role'].title())}: {m['content'].strip()}" for m in messages]
    return "".join(turns) + "\n\nAssistant:"


def render_response(text: str) -> str:
    return " " + text.strip()


def clean_response(generated: str) -> str:
    """A sampled continuation, cut where the model starts writing the next turn itself."""
    cut = min((i for i in (generated.find("\n\nHuman:"), generated.find("\n\nAssistant:")) if i >= 0), default=-1)
    return (generated[:cut] if cut >= 0 else generated).strip()
