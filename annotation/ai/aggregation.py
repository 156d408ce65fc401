"""From a judge's answers to a choice: each order's verdict, the two orders combined, the strength.

Position bias (Zheng et al. 2023): judges prefer one position, so a pair is judged with the
responses in both orders ("ab": A shown first; "ba": B shown first) and a choice counts only when
both orders agree; otherwise the judgement is a tie, and both verdicts are kept for the audit.

p_a is the judge's probability that the pair's response A is the better one (whichever position
it was shown in); the margin |p_a - p_b| = |2 p_a - 1| decides ties and the strength.
"""
from dataclasses import asdict, dataclass

DEFAULT_TIE_MARGIN = 0.1
# margin < 0.4: strength 1 ("slightly better"), < 0.7: 2, else 3
DEFAULT_STRENGTH_CUTS = (0.4, 0.7)
ORDERS = ("ab", "ba")


@dataclass
class OrderVerdict:
    order: str  # "ab" | "ba"
    verdict: str | None  # in the pair's terms: "a" | "b" | "tie" | None (unreadable, or an error)
    p_a: float | None = None
    raw: str = ""
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Combined:
    choice: str | None  # None: no order gave a verdict, so there is no judgement
    strength: int | None
    agreed: bool
    p_a: float | None


def margin(p_a: float) -> float:
    return abs(2.0 * p_a - 1.0)


def verdict_from_probability(p_a: float, *, tie_margin: float = DEFAULT_TIE_MARGIN) -> str:
    if margin(p_a) < tie_margin:
        return "tie"
    return "a" if p_a > 0.5 else "b"


def unshown(letter: str | None, order: str) -> str | None:
    """A shown letter ("A": first, "B": second, "tie") in the pair's terms."""
    if letter in (None, "tie"):
        return letter
    first_is_a = order == "ab"
    return "a" if (letter == "A") == first_is_a else "b"


def p_a_of_first(p_first: float, order: str) -> float:
    """The probability that the pair's A is better, from the probability that the first shown is."""
    return p_first if order == "ab" else 1.0 - p_first


def strength_from_margin(m: float, *, cuts=DEFAULT_STRENGTH_CUTS) -> int:
    return 1 + sum(m >= cut for cut in cuts)


def combine(orders: list[OrderVerdict], *, cuts=DEFAULT_STRENGTH_CUTS) -> Combined:
    """One order: its verdict. Two: the verdict when both agree, a tie when they disagree or only
    one is readable, no choice when neither is. The strength (a or b only) is read from the mean p_a
    of the orders that returned probabilities; without probabilities there is none."""
    readable = [o.verdict for o in orders if o.verdict is not None]
    probabilities = [o.p_a for o in orders if o.p_a is not None and o.verdict is not None]
    p_a = sum(probabilities) / len(probabilities) if probabilities else None
    if not readable:
        return Combined(choice=None, strength=None, agreed=False, p_a=p_a)
    agreed = len(readable) == len(orders) and len(set(readable)) == 1
    choice = readable[0] if agreed else "tie"
    strength = None
    if choice in ("a", "b") and p_a is not None:
        strength = strength_from_margin(margin(p_a), cuts=cuts)
    return Combined(choice=choice, strength=strength, agreed=agreed, p_a=p_a)
