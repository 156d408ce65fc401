"""Anthropic HH-RLHF transcripts: `\\n\\nHuman: ...\\n\\nAssistant: ...` turns.

What happens to each irregular line (the shipped sample has the first kind; the full split has
the others):
- an empty final Assistant turn (the labeller preferred saying nothing, or was shown nothing):
  imported as an empty response, with a warning, because it is a real recorded preference;
- chosen and rejected identical: rejected, there is nothing to compare;
- transcripts that differ before the final Assistant turn: rejected, no single prompt exists;
- a transcript without turns, or whose last turn is not an Assistant turn: rejected.
"""
import re

from annotation.dataio.records import LineInvalid

TURN = re.compile(r"\n\n(Human|Assistant): ?")
ROLE = {"Human": "user", "Assistant": "assistant"}


def transcript_turns(transcript: str, key: str) -> list[dict]:
    """Splits a transcript into [{role, content}] turns."""
    if transcript.startswith(("Human:", "Assistant:")):
        transcript = "\n\n" + transcript
    parts = TURN.split(transcript)
    if parts[0].strip():
        raise LineInvalid(key, "text before the first '\\n\\nHuman: ' turn; is this an HH-RLHF transcript?")
    turns = [{"role": ROLE[parts[i]], "content": parts[i + 1]} for i in range(1, len(parts), 2)]
    if not turns:
        raise LineInvalid(key, "has no '\\n\\nHuman: ' / '\\n\\nAssistant: ' turns")
    if turns[-1]["role"] != "assistant":
        raise LineInvalid(key, "does not end with an Assistant turn, so there is no response to compare")
    if len(turns) < 2:
        raise LineInvalid(key, "has no Human turn before the final Assistant turn, so there is no prompt")
    return turns


def split_pair(chosen: str, rejected: str) -> tuple[list[dict], str, str]:
    """(prompt messages, chosen response, rejected response) from the two transcripts."""
    if chosen == rejected:
        raise LineInvalid("rejected", "is identical to chosen: there is nothing to compare")
    chosen_turns = transcript_turns(chosen, "chosen")
    rejected_turns = transcript_turns(rejected, "rejected")
    prompt, rejected_prompt = chosen_turns[:-1], rejected_turns[:-1]
    if prompt != rejected_prompt:
        first = next(
            (i for i, (c, r) in enumerate(zip(prompt, rejected_prompt)) if c != r), min(len(prompt), len(rejected_prompt))
        )
        raise LineInvalid(
            "rejected",
            f"differs from chosen before the final Assistant turn (at turn {first + 1}), so the two answers "
            "do not reply to the same prompt",
        )
    chosen_text, rejected_text = chosen_turns[-1]["content"], rejected_turns[-1]["content"]
    if chosen_text == rejected_text:
        raise LineInvalid("rejected", "final Assistant turn is identical to chosen's: there is nothing to compare")
    return prompt, chosen_text, rejected_text
