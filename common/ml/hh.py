"""Anthropic HH's plain transcript ("\\n\\nHuman: ...\\n\\nAssistant: ..."): the one renderer under
both the policy's prompts (training/text.py) and a reward model's input (rewardmodel/text.py)."""

HH_ROLE_NAMES = {"user": "Human", "human": "Human", "assistant": "Assistant", "system": "System"}


def hh_prompt(messages: list[dict]) -> str:
    """[{role, content}, ...] -> the conversation, ending with the cue for the assistant's turn."""
    turns = [f"\n\n{HH_ROLE_NAMES.get(m['role'], m['role'].title())}: {m['content'].strip()}" for m in messages]
    return "".join(turns) + "\n\nAssistant:"
