"""`accelerate launch` of SFT and PPO on two CPU processes: they give the answer of one."""
import json
from dataclasses import replace

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



BATCH = 4
# The controller's error is clipped to +-20%: its episode count (both processes') shows at every
# step, the KL it is fed only inside the clip. A step's KL here runs 0 (the policy starts as the
# reference), about -0.15, then about 0.2: a target of 0.2 keeps step 3 inside the clip.
PPO_OPTIONS = dict(steps=3, batch_size=BATCH, mini_batch_size=BATCH, ppo_epochs=1, learning_rate=1e-2, max_new_tokens=6,
                   max_prompt_tokens=16, temperature=1.0, missing_eos_penalty=None, seed=0, save_every=0,
                   mixed_precision="no", init_kl_coef=0.2, adap_kl_ctrl=True, target=0.2, horizon=20.0,
                   score_scaling=True)


@pytest.fixture(scope="module")
def ppo_on_two_processes(toy_models, tmp_path_factory):
    """(the step lines, the summary lines) printed by `accelerate launch -m training.runner` on two processes."""
    models, prompts = toy_models
    root = tmp_path_factory.mktemp("ppo-launch")
    (root / "prompts.txt").write_text("".join(prompt + "\n" for prompt in prompts))
    lines = accelerate_launch("training.runner", [
        "--sft", str(models / "sft"), "--reward", str(models / "rm"), "--prompts", str(root / "prompts.txt"),
        "--out", str(root / "out"), "--config", json.dumps(PPO_OPTIONS),
    ], num_processes=2, home=root)
    return [line for line in lines if "step" in line], [line for line in lines if "steps_done" in line]


@pytest.mark.multiprocess
def test_ppo_beta_follows_the_kl_of_all_processes_and_is_the_same_on_each(ppo_on_two_processes):
    steps, summaries = ppo_on_two_processes
    episodes = 2 * BATCH  # both processes' rollouts of a step
    beta = PPO_OPTIONS["init_kl_coef"]
    for step in steps:  # Ziegler et al.'s controller, fed the step's KL over both processes
        assert step["objective/kl_coef"] == pytest.approx(beta)
        error = min(max(step["objective/kl"] / PPO_OPTIONS["target"] - 1, -0.2), 0.2)
        beta *= 1 + error * episodes / PPO_OPTIONS["horizon"]

    assert [line["step"] for line in steps] == [1, 2, 3]
    assert len(summaries) == 2 and summaries[0]["kl_coef"] == summaries[1]["kl_coef"]
    assert summaries[0]["kl_coef"] == pytest.approx(beta)


@pytest.mark.multiprocess
def test_ppo_score_scaling_counts_the_scores_of_all_processes_on_each(ppo_on_two_processes):
    steps, summaries = ppo_on_two_processes
    mean_score = sum(step["objective/scores"] for step in steps) / len(steps)  # steps of equal size

    assert len(summaries) == 2
    for summary in summaries:
        assert summary["score_count"] == len(steps) * 2 * BATCH
        assert summary["score_mean"] == pytest.approx(mean_score, rel=TOLERANCE)


def _pairs_file(path, examples) -> str:
    """Pairs in the entry points' JSONL format (prompt as messages)."""
    path.write_text("".join(json.dumps({"prompt": e.messages, "chosen": e.chosen, "rejected": e.rejected}) + "\n"
                            for e in examples))
    return str(path)


def _assert_same_weights(folder_a, folder_b):
    """The two folders' weights agree to float32 rounding, but for the attention's key bias: its
    gradient is zero in exact arithmetic (softmax is unchanged when every key score moves by the
    same amount), so what AdamW does with it is rounding noise, divided by a second moment made of
    that noise."""
    import torch
    from transformers import AutoModelForCausalLM

    a, b = (AutoModelForCausalLM.from_pretrained(folder) for folder in (folder_a, folder_b))
    n_embd = a.config.n_embd
    a, b = a.state_dict(), b.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        if name.endswith("attn.c_attn.bias"):  # query, key, value biases: leave the key's out
            x, y = torch.cat([x[:n_embd], x[2 * n_embd:]]), torch.cat([y[:n_embd], y[2 * n_embd:]])
        torch.testing.assert_close(x, y, rtol=TOLERANCE, atol=1e-5, msg=name)


def _assert_two_processes_take_the_steps_of_one(tmp_path, *, module: str, args: list[str], options: dict, train_one,
                                                final: str, names: tuple[str, ...]) -> list[dict]:
    """`train_one(out_dir, on_step)` (batch_size 4) on this process beside `accelerate launch -m module
    args` (batch_size 2) on two: the same steps (the metrics `names`, and spin/iteration where
    logged) and the same weights in each out folder's `final`. Returns one process's steps."""
    one = []
    train_one(tmp_path / "one", lambda step, metrics: one.append({"step": step, **metrics}) and False)

    lines = accelerate_launch(module, [*args, "--out", str(tmp_path / "two"),
                                       "--config", json.dumps({**options, "batch_size": 2})],
                              num_processes=2, home=tmp_path)

    two = [line for line in lines if "loss" in line]
    assert [(m["step"], m.get("spin/iteration")) for m in two] == [(m["step"], m.get("spin/iteration")) for m in one]
    for name in names:
        assert [m.get(name) for m in two] == pytest.approx([m.get(name) for m in one], rel=TOLERANCE), name
    _assert_same_weights(tmp_path / "one" / final, tmp_path / "two" / final)
    return one


def _response_tokens_per_process(cfg, rows, world: int = 2) -> list[list[int]]:
    """For each step of `cfg` (batch_size per process) on `world` processes, the response tokens
    (both sides) that each process's share of the step's rows holds."""
    from types import SimpleNamespace

    from common.ml.processes import process_share
    from training.dpo import _step_batches

    def tokens(i):
        return len(rows[i].chosen_ids) + len(rows[i].rejected_ids) - sum(rows[i].meta["prompt_len"])

    return [[sum(tokens(i) for i in process_share(SimpleNamespace(num_processes=world, process_index=rank), batch))
             for rank in range(world)] for batch in _step_batches(cfg, rows, world)]


# The toy pairs' responses are one to three words and a marker or another word, so the two
# processes' rows hold different numbers of response tokens (checked in each test).
PREFERENCE_OPTIONS = dict(steps=3, learning_rate=1e-2, warmup_steps=1, beta=0.5, max_length=48, length_group_window=1,
                          max_response_tokens=12, save_every=0, seed=0, mixed_precision="no")


@pytest.mark.multiprocess
def test_dpo_on_two_processes_takes_the_steps_of_one_with_their_pairs(toy_models, tmp_path):
    from common.ml.loading import load_tokenizer
    from tests.training.test_dpo_train import toy_examples
    from training.dpo import DPOConfig, dpo_train
    from training.preference_data import encode_preference_pairs

    # 15 pairs in batches of 4: one step of each epoch has 3, split 2 + 1 between the processes.
    start, examples, options = str(toy_models[0] / "sft"), toy_examples(15), {**PREFERENCE_OPTIONS, "steps": 4}
    cfg = DPOConfig(**options, batch_size=4)
    held_out = toy_examples(5, seed=1)  # at the last step, scored 3 + 2 on two processes
    tokenizer = load_tokenizer(start)
    pairs, eval_pairs = (encode_preference_pairs(tokenizer, e, cfg) for e in (examples, held_out))
    assert all(a != b for a, b in _response_tokens_per_process(replace(cfg, batch_size=2), pairs))

    one = _assert_two_processes_take_the_steps_of_one(
        tmp_path, module="training.dpo", options=options, final="final",
        args=["--pairs", _pairs_file(tmp_path / "pairs.jsonl", examples), "--start", start,
              "--eval-pairs", _pairs_file(tmp_path / "held-out.jsonl", held_out)],
        train_one=lambda out, on_step: dpo_train(cfg, start_path=start, train_pairs=pairs, eval_pairs=eval_pairs,
                                                 out_dir=out, on_step=on_step),
        names=("grad_norm", "loss", "rewards/chosen", "rewards/rejected", "logps/chosen", "eval_loss",
               "eval_rewards/margins", "eval_rewards/accuracies"))

    assert "eval_loss" in one[-1]


@pytest.mark.multiprocess
def test_kto_on_two_processes_takes_the_steps_of_one_with_z0_over_all_their_rows(toy_models, tmp_path):
    from common.ml.loading import load_tokenizer
    from tests.training.test_dpo_train import toy_examples
    from training.kto import KTOConfig, kto_train
    from training.kto_data import encode_unpaired, unpair

    start, examples = str(toy_models[0] / "sft"), toy_examples(16)
    options = {**PREFERENCE_OPTIONS, "steps": 4, "precompute_ref": True}  # the reference table: 32 rows, 16 + 16
    cfg = KTOConfig(**options, batch_size=4)
    rows = encode_unpaired(load_tokenizer(start), unpair(examples, seed=0), cfg)
    assert all(a != b for a, b in _response_tokens_per_process(replace(cfg, batch_size=2), rows))

    one = _assert_two_processes_take_the_steps_of_one(
        tmp_path, module="training.kto", options=options, final="final",
        args=["--pairs", _pairs_file(tmp_path / "pairs.jsonl", examples), "--start", start],
        train_one=lambda out, on_step: kto_train(cfg, start_path=start, train_rows=rows, eval_pairs=[], out_dir=out,
                                                 on_step=on_step),
        names=("kl", "grad_norm", "loss", "rewards/chosen", "logps/rejected"))

    assert any(m["kl"] > 0 for m in one)  # z0 is not clamped to 0 throughout: a per-process z0 would show


@pytest.mark.multiprocess
def test_spin_on_two_processes_takes_the_steps_of_one_with_the_main_processs_samples(toy_models, tmp_path):
    from tests.training.test_spin import toy_demonstrations
    from training.spin import SPINConfig, spin_train

    start, demonstrations = str(toy_models[0] / "sft"), toy_demonstrations(8)
    options = dict(iterations=2, steps_per_iteration=2, learning_rate=1e-2, beta=0.5, max_new_tokens=6, max_length=40,
                   max_response_tokens=12, temperature=1.0, seed=0, mixed_precision="no")
    (tmp_path / "demonstrations.jsonl").write_text(
        "".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in demonstrations))

    one = _assert_two_processes_take_the_steps_of_one(
        tmp_path, module="training.spin", options=options, final="iteration-2/final",
        args=["--demonstrations", str(tmp_path / "demonstrations.jsonl"), "--start", start],
        train_one=lambda out, on_step: spin_train(SPINConfig(**options, batch_size=4), start_path=start,
                                                  demonstrations=demonstrations, out_dir=out, on_step=on_step),
        names=("grad_norm", "loss", "rewards/chosen", "logps/rejected"))

    assert [m["spin/iteration"] for m in one] == [1, 1, 2, 2]
