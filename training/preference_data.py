"""Labelled pairs as a policy reads them (DPO): the conversation through the policy's chat template
when it has one, else the HH layout that SFT and PPO use (training/text.py), then the response;
tokenised exactly as SFT tokenises a demonstration (training/sft.py::encode_example)."""
from rewardmodel.batching import EncodedPair
from rewardmodel.text import PairExample, as_messages
from training.sft import encode_example
from training.text import render_prompt, render_response


def policy_prompt_and_response(tokenizer, messages: list[dict], response: str) -> tuple[str, str]:
    """(prompt text ending with the assistant's cue, the response's text after it)."""
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt):]
        return prompt, response
    return render_prompt(messages), render_response(response)


def encode_text_pair(tokenizer, prompt: str, chosen: str, rejected: str, cfg, **fields) -> EncodedPair:
    """One pair from the prompt text and the two responses' texts (as `policy_prompt_and_response`
    gives them), each side tokenised as SFT tokenises a demonstration. `cfg` has max_length and
    max_response_tokens (a DPOConfig). Each side's prompt length (its tokens that are not learnt) is
    in meta["prompt_len"] as (chosen, rejected): they differ when a long prompt is cut to make room
    for responses of different lengths. `fields`: the EncodedPair's other fields; a "meta" is merged."""
    sides = []
    for response in (chosen, rejected):
        ids, labels = encode_example(tokenizer, prompt, response, cfg)
        sides.append((ids, sum(1 for label in labels if label == -100)))
    (chosen_ids, chosen_prompt), (rejected_ids, rejected_prompt) = sides
    meta = {**fields.pop("meta", {}), "prompt_len": (chosen_prompt, rejected_prompt)}
    return EncodedPair(chosen_ids=chosen_ids, rejected_ids=rejected_ids, meta=meta, **fields)


def encode_preference_pairs(tokenizer, examples: list[PairExample], cfg) -> list[EncodedPair]:
    """Labelled pairs through the policy's chat template (or the HH layout), encoded by `encode_text_pair`."""
    out = []
    for e in examples:
        messages = as_messages(e.messages)
        prompt, chosen = policy_prompt_and_response(tokenizer, messages, e.chosen)
        rejected_prompt, rejected = policy_prompt_and_response(tokenizer, messages, e.rejected)
        if rejected_prompt != prompt:  # cannot happen with one conversation; kept honest
            raise ValueError(f"Pair {e.pair_id}: the two sides render different prompts.")
        out.append(encode_text_pair(tokenizer, prompt, chosen, rejected, cfg, p_win=e.p_win, weight=e.weight,
                                    meta={"pair_id": e.pair_id, "agreement": e.agreement}))
    return out
