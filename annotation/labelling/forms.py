"""Reads the judgement form of the comparison page into the services' arguments."""


def judgement_fields(post) -> dict:
    """choice (left/right/tie/both_bad), strength, rationale, flags per side and time_ms, as posted.

    The strength radio stays selected between choices on the page, so it is only sent along when
    one response was chosen as better; the service rejects a strength on a tie."""
    choice = post.get("choice", "")
    return {
        "choice": choice,
        "strength": post.get("strength") if choice in ("left", "right", "a", "b") else None,
        "rationale": post.get("rationale", ""),
        "flags": {side: post.getlist(f"flags_{side}") for side in ("a", "b") if post.getlist(f"flags_{side}")},
        "time_ms": post.get("time_ms") or None,
    }
