import pytest
from transformers import AutoModelForCausalLM

from common.ml.tokenizers import train_bpe_tokenizer
from training.sft import SFTConfig, encode_example, sft_train

EXAMPLES = [(f"\n\nHuman: Tell me about item {i}.\n\nAssistant:", f" Item {i} is a fine thing.") for i in range(12)]
TINY = dict(steps=6, batch_size=4, vocab_size=300, n_layer=1, n_embd=32, n_head=2, max_length=64,
            max_response_tokens=24, learning_rate=1e-3, save_every=0)


def test_only_response_tokens_carry_labels():
    tok = train_bpe_tokenizer([p + r for p, r in EXAMPLES], vocab_size=300)
    prompt, response = EXAMPLES[0]

    ids, labels = encode_example(tok, prompt, response, SFTConfig(**TINY))

    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [-100] * n_prompt
    assert labels[n_prompt:] == ids[n_prompt:]
    assert ids[-1] == tok.eos_token_id
    assert tok.decode(ids[n_prompt:-1]) == response


def test_long_prompts_are_cut_from_the_left_and_the_response_kept():
    tok = train_bpe_tokenizer([p + r for p, r in EXAMPLES], vocab_size=300)
    cfg = SFTConfig(**{**TINY, "max_length": 40, "max_response_tokens": 30})

    ids, labels = encode_example(tok, "word " * 100 + "\n\nAssistant:", " short answer", cfg)

    assert len(ids) == 40
    assert tok.decode([i for i, lab in zip(ids, labels) if lab != -100][:-1]) == " short answer"


def test_a_stopped_run_resumes_from_its_checkpoint_and_finishes(tmp_path):
    cfg = SFTConfig(**TINY)

    stopped = sft_train(cfg, EXAMPLES, tmp_path, on_step=lambda step, loss: step == 3)
    finished = sft_train(cfg, EXAMPLES, tmp_path)

    assert stopped["model_path"] is None and stopped["steps_done"] == 3
    assert finished["resumed_from_step"] == 3 and finished["steps_done"] == 6
    AutoModelForCausalLM.from_pretrained(finished["model_path"])


def test_training_lowers_the_response_loss(tmp_path):
    summary = sft_train(SFTConfig(**{**TINY, "steps": 40}), EXAMPLES, tmp_path)

    assert summary["final_loss"] < 0.8 * summary["first_loss"]


def test_config_refuses_a_response_budget_that_fills_the_whole_length():
    with pytest.raises(ValueError, match="max_response_tokens"):
        SFTConfig(**{**TINY, "max_response_tokens": 64})
