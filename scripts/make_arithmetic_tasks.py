"""Writes the demo task set data/demo/arithmetic-tasks.jsonl: a+b, a-b and a*b with small
integers, in the task format of training/rewards/tasks.py, checked by the "numeric" checker.
Deterministic for a seed; no two tasks ask the same question, so the held-out split shares no
question with train.

    python scripts/make_arithmetic_tasks.py [--seed 0] [--n 400] [--held-out 80] [--out PATH]
"""
import argparse
import json
import random
from pathlib import Path

OPERATIONS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
MAX_OPERAND = 19
ROOT = Path(__file__).resolve().parent.parent


def arithmetic_tasks(*, seed: int, n: int, held_out: int) -> list[dict]:
    questions = [(a, op, b) for op in OPERATIONS for a in range(MAX_OPERAND + 1) for b in range(MAX_OPERAND + 1)]
    if not 0 <= held_out <= n <= len(questions):
        raise ValueError(f"Need 0 <= held_out ({held_out}) <= n ({n}) <= {len(questions)} distinct questions.")
    chosen = random.Random(seed).sample(questions, n)
    return [
        {"id": f"arith-{i:04d}", "prompt": f"{a} {op} {b} =", "reference": str(OPERATIONS[op](a, b)),
         "checker": "numeric", "split": "held_out" if i >= n - held_out else "train"}
        for i, (a, op, b) in enumerate(chosen)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--held-out", type=int, default=80)
    parser.add_argument("--out", type=Path, default=ROOT / "data/demo/arithmetic-tasks.jsonl")
    args = parser.parse_args()
    try:
        tasks = arithmetic_tasks(seed=args.seed, n=args.n, held_out=args.held_out)
    except ValueError as exc:
        parser.error(str(exc))
    args.out.write_text("".join(json.dumps(t) + "\n" for t in tasks), encoding="utf-8")
    print(f"{len(tasks)} tasks ({args.held_out} held out) -> {args.out}")


if __name__ == "__main__":
    main()
