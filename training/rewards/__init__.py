"""Verifiable rewards for GRPO-style training (issue 13): checkers that score a completion against
a task's reference (checkers.py), a subprocess sandbox for code and its unit tests (sandbox.py),
weighted combinations with a learnt reward model (spec.py) and task files (tasks.py)."""
