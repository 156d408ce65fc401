"""DPO on the toy task: a tiny GPT-2 with the toy word tokenizer learns to prefer responses with
the marker word; the shared-prefix forward pass, the precomputed reference and resuming."""
import random

import pytest
import torch
from transformers import AutoModelForCausalLM

from common.ml.loading import load_tokenizer
from rewardmodel.text import PairExample
from tests.training import toy
from training.dpo import DPOConfig, _micro_batch_loss, dpo_train, pair_logps, reference_logps
from training.preference_data import encode_preference_pairs

TINY = dict(steps=8, batch_size=8, learning_rate=5e-3, warmup_steps=1, beta=0.5, max_length=48,
            max_response_tokens=12, save_every=0, seed=0)


def toy_examples(n: int, seed: int = 0) -> list[PairExample]:
    """Same prompt words on both sides; chosen ends with the marker, rejected with another word."""
    rng = random.Random(seed)
    words = toy.WORDS[:-1]
    out = []
    for i in range(n):
        prompt = " ".join(rng.choice(words) for _ in range(4))
        body = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 4)))
        out.append(PairExample(pair_id=i, prompt_id=i, messages=[{"role": "user", "content": prompt}],
                               chosen=f"{body} {toy.MARKER}", rejected=f"{body} {rng.choice(words)}", p_win=0.75))
    return out


@pytest.fixture(scope="module")
def toy_dpo(tmp_path_factory):
    path = toy.save_policy(tmp_path_factory.mktemp("dpo") / "policy")
    tok = load_tokenizer(path)
    cfg = DPOConfig(**TINY)
    return path, tok, encode_preference_pairs(tok, toy_examples(32), cfg), encode_preference_pairs(tok, toy_examples(8, seed=1), cfg)


def test_shared_prefix_pass_gives_the_log_probs_of_two_separate_sequences(toy_dpo):
    path, tok, train, _ = toy_dpo
    model = AutoModelForCausalLM.from_pretrained(path).eval()

    with torch.no_grad():
        shared, shared_counts = pair_logps(model, train[:6], pad_id=tok.pad_token_id, shared=True, device="cpu")
        separate, separate_counts = pair_logps(model, train[:6], pad_id=tok.pad_token_id, shared=False, device="cpu")

    torch.testing.assert_close(shared, separate, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(shared_counts, separate_counts)


def test_log_probs_count_only_response_tokens(toy_dpo):
    path, tok, train, _ = toy_dpo
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    pair = train[0]

    with torch.no_grad():
        sums, counts = pair_logps(model, [pair], pad_id=tok.pad_token_id, shared=True, device="cpu")
        logits = model(torch.tensor([pair.chosen_ids])).logits[0]
    start = pair.meta["prompt_len"][0]
    by_hand = torch.log_softmax(logits, -1)[torch.arange(start - 1, len(pair.chosen_ids) - 1), pair.chosen_ids[start:]].sum()

    assert counts[0].item() == len(pair.chosen_ids) - start
    assert sums[0].item() == pytest.approx(by_hand.item(), abs=1e-4)


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "cdpo"])
def test_precomputed_reference_gives_the_loss_of_a_live_reference(toy_dpo, loss_type):
    path, tok, train, _ = toy_dpo
    cfg = DPOConfig(**{**TINY, "loss_type": loss_type})
    policy = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():  # move the policy away from the reference, so that h is not 0
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    reference = AutoModelForCausalLM.from_pretrained(path).eval()
    idx = list(range(8))
    table = reference_logps(reference, train, pad_id=tok.pad_token_id, shared=True, max_tokens=64, device="cpu")

    with torch.no_grad():
        live, *_ = _micro_batch_loss(cfg, policy, reference, train, idx, None, pad_id=tok.pad_token_id, shared=True, device="cpu")
        pre, *_ = _micro_batch_loss(cfg, policy, None, train, idx, table, pad_id=tok.pad_token_id, shared=True, device="cpu")

    assert live.abs().sum() > 0
    torch.testing.assert_close(pre, live, atol=1e-5, rtol=0)


@pytest.mark.parametrize("precompute_ref", [False, True])
def test_dpo_raises_the_chosen_margin_and_held_out_accuracy(toy_dpo, tmp_path, precompute_ref):
    path, _, train, held_out = toy_dpo
    history = []

    summary = dpo_train(DPOConfig(**{**TINY, "precompute_ref": precompute_ref, "eval_every": 1}), start_path=path,
                        train_pairs=train, eval_pairs=held_out, out_dir=tmp_path,
                        on_step=lambda step, metrics: history.append(metrics) and False)

    assert history[0]["eval_rewards/margins"] > 0 and history[-1]["rewards/margins"] > history[0]["rewards/margins"]
    assert history[-1]["eval_rewards/margins"] > history[0]["eval_rewards/margins"]
    assert history[-1]["eval_rewards/accuracies"] == 1.0
    assert {"rewards/chosen", "rewards/rejected", "rewards/accuracies", "logps/chosen", "logps/rejected"} <= set(history[-1])
    AutoModelForCausalLM.from_pretrained(summary["model_path"])


def test_a_stopped_run_resumes_from_its_checkpoint_and_finishes(toy_dpo, tmp_path):
    path, _, train, held_out = toy_dpo
    cfg = DPOConfig(**{**TINY, "steps": 4})

    stopped = dpo_train(cfg, start_path=path, train_pairs=train, eval_pairs=held_out, out_dir=tmp_path,
                        on_step=lambda step, metrics: step == 2)
    finished = dpo_train(cfg, start_path=path, train_pairs=train, eval_pairs=held_out, out_dir=tmp_path)

    assert stopped["model_path"] is None and stopped["steps_done"] == 2
    assert finished["resumed_from_step"] == 2 and finished["steps_done"] == 4


def test_a_policy_with_a_chat_template_reads_the_conversation_through_it(toy_dpo):
    _, tok, _, _ = toy_dpo
    tok = type(tok).from_pretrained(tok.name_or_path)
    # the toy vocabulary's words: "hello" opens a user turn, "yes" an assistant turn
    tok.chat_template = ("{% for m in messages %}<|endoftext|> {{ 'hello' if m['role'] == 'user' else 'yes' }} "
                         "{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<|endoftext|> yes{% endif %}")
    example = PairExample(pair_id=1, prompt_id=1, messages=[{"role": "user", "content": "the cat"}],
                          chosen="a banana", rejected="a dog")

    [pair] = encode_preference_pairs(tok, [example], DPOConfig(**TINY))

    prompt_len = pair.meta["prompt_len"][0]
    assert tok.decode(pair.chosen_ids[:prompt_len]) == "<|endoftext|> hello the cat <|endoftext|> yes"
    assert tok.decode(pair.chosen_ids[prompt_len:]) == "a banana <|endoftext|>"


def test_splitting_a_batch_under_a_token_budget_leaves_the_gradient_unchanged(toy_dpo):
    from accelerate import Accelerator

    from training.dpo import _batch_backward

    path, tok, train, _ = toy_dpo
    reference = AutoModelForCausalLM.from_pretrained(path).eval()
    grads = []
    for budget in (4096, 20):  # one micro-batch; about one pair per micro-batch
        policy = AutoModelForCausalLM.from_pretrained(path)
        with torch.no_grad():
            for p in policy.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
        cfg = DPOConfig(**{**TINY, "max_tokens_per_micro_batch": budget})
        metrics = _batch_backward(cfg, Accelerator(cpu=True), policy, reference, train, list(range(8)), None,
                                  pad_id=tok.pad_token_id, shared=True)
        grads.append((torch.cat([p.grad.flatten() for p in policy.parameters()]), metrics["loss"]))

    assert grads[0][1] == pytest.approx(grads[1][1], abs=1e-5)
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-5, rtol=1e-4)


def test_cdpo_without_label_smoothing_takes_eps_from_each_pairs_votes(toy_dpo):
    path, tok, train, _ = toy_dpo  # every toy pair has p_win 0.75: a quarter of the votes against chosen
    policy = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    reference = AutoModelForCausalLM.from_pretrained(path).eval()

    def loss(**options):
        cfg = DPOConfig(**{**TINY, "loss_type": "cdpo", **options})
        with torch.no_grad():
            return _micro_batch_loss(cfg, policy, reference, train, list(range(8)), None, pad_id=tok.pad_token_id,
                                     shared=True, device="cpu")[0]

    torch.testing.assert_close(loss(), loss(label_smoothing=0.25))
    assert not torch.allclose(loss(), loss(label_smoothing=0.0))


def test_bf16_autocast_trains_with_finite_metrics_and_saves_float32_weights(toy_dpo, tmp_path):
    path, _, train, held_out = toy_dpo
    cfg = DPOConfig(**{**TINY, "steps": 2, "mixed_precision": "bf16", "precompute_ref": True})
    history = []

    summary = dpo_train(cfg, start_path=path, train_pairs=train, eval_pairs=held_out, out_dir=tmp_path,
                        on_step=lambda step, metrics: history.append(metrics) and False)

    assert all(torch.isfinite(torch.tensor(m["loss"])) for m in history)
    assert AutoModelForCausalLM.from_pretrained(summary["model_path"]).dtype == torch.float32


def _summed_response_logps(model, ids: list[int], prompt_len: int) -> float:
    """log p(response | prompt) by a plain full forward pass (independent of pair_logps)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    start = max(prompt_len, 1)
    return float(torch.log_softmax(logits, -1)[torch.arange(start - 1, len(ids) - 1), ids[start:]].sum())


def test_held_out_gold_accuracy_is_the_share_of_gold_pairs_whose_gold_side_gets_the_higher_implicit_reward(toy_dpo, tmp_path):
    path, tok, train, _ = toy_dpo
    cfg = DPOConfig(**{**TINY, "steps": 3})
    gold_examples = toy_examples(10, seed=7)
    for e in gold_examples[::2]:  # half the gold answers are the non-marker side: accuracy is not trivially 1
        e.chosen, e.rejected = e.rejected, e.chosen
    gold = encode_preference_pairs(tok, gold_examples, cfg)
    metrics = []

    summary = dpo_train(cfg, start_path=path, train_pairs=train, eval_pairs=[], gold_pairs=gold, out_dir=tmp_path,
                        on_step=lambda step, m: metrics.append(m) and False)

    policy = AutoModelForCausalLM.from_pretrained(summary["model_path"]).eval()
    reference = AutoModelForCausalLM.from_pretrained(path).eval()
    correct = 0
    for p in gold:
        rewards = [cfg.beta * (_summed_response_logps(policy, ids, n) - _summed_response_logps(reference, ids, n))
                   for ids, n in ((p.chosen_ids, p.meta["prompt_len"][0]), (p.rejected_ids, p.meta["prompt_len"][1]))]
        correct += rewards[0] > rewards[1]
    assert 0 < correct < len(gold)
    assert metrics[-1]["eval_gold_rewards/accuracies"] == pytest.approx(correct / len(gold))
    assert "eval_gold_rewards/accuracies" not in metrics[0]  # evaluated at the end (eval_every 0)


@pytest.mark.parametrize("warmup_steps, expected", [(0, [1.0, 0.75, 0.5, 0.25]), (2, [0.5, 1.0, 1.0, 0.5])])
def test_the_linear_schedule_decays_the_learning_rate_as_transformers_does(toy_dpo, tmp_path, warmup_steps, expected):
    from torch.optim.lr_scheduler import LambdaLR
    from transformers import get_linear_schedule_with_warmup

    path, _, train, _ = toy_dpo
    cfg = DPOConfig(**{**TINY, "steps": 4, "warmup_steps": warmup_steps, "lr_schedule": "linear", "weight_decay": 0.0})
    rates = []

    dpo_train(cfg, start_path=path, train_pairs=train, eval_pairs=[], out_dir=tmp_path,
              on_step=lambda step, m: rates.append(m["learning_rate"]) and False)

    assert rates == pytest.approx([cfg.learning_rate * e for e in expected])
    if warmup_steps == 0:  # transformers' own schedule agrees (its warm-up starts at 0, ours at 1/warmup)
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.learning_rate)
        sched: LambdaLR = get_linear_schedule_with_warmup(opt, num_warmup_steps=0, num_training_steps=4)
        theirs = []
        for _ in range(4):
            theirs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        assert rates == pytest.approx(theirs)
