"""AI labellers (RLAIF, Constitutional AI): a model judges a dataset's pairs like a labeller.

- `prompting`: the judge's prompt (conversation, the two responses as shown, a principle) and
  reading a verdict from the judge's text.
- `aggregation`: one order's verdict from probabilities; the two orders combined (a choice counts
  only when both agree); the strength from the probability margin.
- `backends/`: causal_lm (answer-token log-probabilities), reward_model (margin of two scores),
  openai (a chat-completions endpoint).
- `secrets`: the endpoint's key, from the environment only.
- `services`, `selectors`, `runs`: AI labellers, constitutions, and the `ai_label` job.
"""
