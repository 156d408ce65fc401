"""`accelerate launch` of SFT and PPO on two CPU processes: they give the answer of one."""
import json

import pytest

from common.ml.tiny import tiny_causal_lm
from common.ml.tokenizers import train_bpe_tokenizer
from tests.launch import accelerate_launch
from training.sft import SFTConfig, sft_train

# Responses of different lengths, so that the two processes' rows hold different numbers of
# response tokens and a per-process loss normaliser would show.
DEMONSTRATIONS = [(f"\n\nHuman: Tell me about item {i}.\n\nAssistant:", f" Item {i} is" + " a fine thing," * (i % 4))
                  for i in range(12)]
SFT_OPTIONS = dict(steps=3, vocab_size=300, max_length=64, max_response_tokens=24, learning_rate=1e-3,
                   warmup_steps=1, save_every=0, mixed_precision="no")
# Two processes sum the same terms in another order: float32 rounding only.
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def sft_base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sft-base")
    tok = train_bpe_tokenizer([p + r for p, r in DEMONSTRATIONS], vocab_size=300, save_dir=folder)
    tiny_causal_lm(tok, n_layer=1, n_embd=32, n_head=2, n_positions=64).save_pretrained(folder)
    return str(folder)


@pytest.mark.multiprocess
def test_sft_on_two_processes_takes_the_steps_of_one_with_their_rows(sft_base, tmp_path):
    demonstrations = tmp_path / "demonstrations.jsonl"
    demonstrations.write_text("".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in DEMONSTRATIONS))
    one = []
    sft_train(SFTConfig(**SFT_OPTIONS, batch_size=4), DEMONSTRATIONS, tmp_path / "one", base_model_path=sft_base,
              on_step=lambda step, loss: one.append(loss) and False)

    lines = accelerate_launch("training.sft", [
        "--demonstrations", str(demonstrations), "--out", str(tmp_path / "two"), "--base-model", sft_base,
        "--config", json.dumps({**SFT_OPTIONS, "batch_size": 2}),
    ], num_processes=2, home=tmp_path)

    two = [line["loss"] for line in lines if "loss" in line]
    assert two == pytest.approx(one, rel=TOLERANCE)
