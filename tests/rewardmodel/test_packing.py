"""Sequence packing (rewardmodel/packing.py): packed rows give the rewards, gradients and training
losses of separate sequences, checked against each sequence run alone through the model."""
import copy
import random

import pytest
import torch

from rewardmodel.batching import EncodedPair, collate
from rewardmodel.config import RewardTrainConfig
from rewardmodel.losses import PreferenceHead, preference_loss
from rewardmodel.packing import collate_packed, first_fit_decreasing
from rewardmodel.trainer import PairRewardModel, train

PAD = 0


def tiny_decoder(kind: str, attn: str = "sdpa"):
    from transformers import GPT2Config, GPT2ForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(0)
    if kind == "gpt2":
        config = GPT2Config(vocab_size=60, n_positions=128, n_embd=32, n_layer=2, n_head=2, resid_pdrop=0.0,
                            embd_pdrop=0.0, attn_pdrop=0.0, num_labels=1, pad_token_id=PAD)
        model = GPT2ForSequenceClassification(config)
    else:
        config = LlamaConfig(vocab_size=60, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, max_position_embeddings=128, num_labels=1, pad_token_id=PAD)
        model = LlamaForSequenceClassification(config)
    model.config._attn_implementation = attn
    return model


def varied_pairs(n=7, seed=0) -> list[EncodedPair]:
    """Pairs with a shared prompt of varied length, responses of varied lengths, one with nothing
    shared (as after truncation) and one whose sides are equal."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        prompt = [rng.randrange(1, 60) for _ in range(rng.randrange(2, 20))]
        pairs.append(EncodedPair(chosen_ids=prompt + [rng.randrange(1, 60) for _ in range(rng.randrange(1, 12))],
                                 rejected_ids=prompt + [rng.randrange(1, 60) for _ in range(rng.randrange(1, 12))],
                                 weight=1 + i % 3, p_win=0.8 + 0.05 * (i % 4)))
    pairs.append(EncodedPair(chosen_ids=[3, 4, 5], rejected_ids=[9] * 14))
    pairs.append(EncodedPair(chosen_ids=[1, 2, 3], rejected_ids=[1, 2, 3]))
    return pairs


def alone(model, ids: list[int]) -> torch.Tensor:
    """The reward of one sequence run by itself (batch of one, no padding, no mask)."""
    hidden = model.base_model(input_ids=torch.tensor([ids])).last_hidden_state  # (1, T, d)
    return model.score(hidden[0, -1])[0].float()


@pytest.mark.parametrize("kind,attn", [("gpt2", "sdpa"), ("gpt2", "eager"), ("llama", "sdpa")])
@pytest.mark.parametrize("shared_prefix", [False, True])
def test_packed_rows_give_the_rewards_of_each_sequence_run_alone(kind, attn, shared_prefix):
    model = tiny_decoder(kind, attn).eval()
    pairs = varied_pairs()
    batch = collate_packed(pairs, PAD, shared_prefix=shared_prefix, pack=True)
    segments = len(pairs) * (1 if shared_prefix else 2)

    with torch.no_grad():
        r_w, r_l = PairRewardModel(model, rows=True)(batch)
        ref_w = torch.stack([alone(model, p.chosen_ids) for p in pairs])
        ref_l = torch.stack([alone(model, p.rejected_ids) for p in pairs])

    assert batch["input_ids"].shape[0] < segments  # several sequences did share a row
    torch.testing.assert_close(r_w, ref_w, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(r_l, ref_l, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
@pytest.mark.parametrize("shared_prefix", [False, True])
def test_packed_rows_give_the_gradients_of_padded_sequences(kind, shared_prefix):
    model = tiny_decoder(kind)
    pairs = varied_pairs(seed=1)
    head = PreferenceHead(length_control=False, tie_aware=False)

    def grads(scorer, batch):
        model.zero_grad()
        r_w, r_l = scorer(batch)
        loss = (preference_loss(r_w, r_l, batch, head=head, use_margin=False, center_rewards_coefficient=0.01) * batch["weight"]).sum()
        loss.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    padded = grads(PairRewardModel(model, rows=False), collate(pairs, PAD))
    packed = grads(PairRewardModel(model, rows=True), collate_packed(pairs, PAD, shared_prefix=shared_prefix, pack=True))

    torch.testing.assert_close(packed, padded, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_a_packed_training_run_logs_the_losses_of_a_padded_one(kind):
    pairs = varied_pairs(n=22, seed=2)  # 24 pairs: 4 steps of 6 per epoch

    def losses(**options):
        cfg = RewardTrainConfig(max_length=64, batch_size=6, learning_rate=1e-3, num_train_epochs=2, checkpoint_steps=0,
                                mixed_precision="no", max_tokens_per_micro_batch=256, **options)
        result = train(cfg, model=tiny_decoder(kind), pad_token_id=PAD, train_pairs=pairs, eval_pairs=[])
        return result.history

    padded = losses(packing=False, share_prompt_prefix=False)
    packed = losses(packing=True, share_prompt_prefix=True)

    assert len(packed) == len(padded) == 8
    torch.testing.assert_close(torch.tensor([h["loss"] for h in packed]), torch.tensor([h["loss"] for h in padded]),
                               rtol=1e-4, atol=1e-5)
    assert [h["accuracy"] for h in packed] == [h["accuracy"] for h in padded]
    assert sum(h["num_padded_tokens"] for h in packed) < sum(h["num_padded_tokens"] for h in padded)
    assert all(h["num_tokens"] <= h["num_padded_tokens"] for h in packed + padded)


def test_a_steps_logged_loss_and_accuracy_are_those_of_the_model_before_the_step():
    pairs = varied_pairs(n=8, seed=3)
    model = tiny_decoder("gpt2")
    before = copy.deepcopy(model).eval()
    cfg = RewardTrainConfig(max_length=64, batch_size=len(pairs), learning_rate=1e-3, checkpoint_steps=0,
                            mixed_precision="no", max_tokens_per_micro_batch=128, packing=True, share_prompt_prefix=False)

    (logs,) = train(cfg, model=model, pad_token_id=PAD, train_pairs=pairs, eval_pairs=[]).history

    with torch.no_grad():
        d = torch.stack([alone(before, p.chosen_ids) - alone(before, p.rejected_ids) for p in pairs]).double()
    p_win = torch.tensor([p.p_win for p in pairs], dtype=torch.float64)
    weight = torch.tensor([p.weight for p in pairs], dtype=torch.float64)
    expected = (-(p_win * torch.nn.functional.logsigmoid(d) + (1 - p_win) * torch.nn.functional.logsigmoid(-d)) * weight).sum() / weight.sum()
    assert logs["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert logs["accuracy"] == float((d > 0).double().mean())
    assert logs["num_tokens"] == sum(len(p.chosen_ids) + len(p.rejected_ids) for p in pairs)


def test_an_encoder_refuses_packing_with_the_reason():
    from transformers import BertConfig, BertForSequenceClassification

    encoder = BertForSequenceClassification(BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                       intermediate_size=64, num_labels=1))
    cfg = RewardTrainConfig(max_length=64, batch_size=4, checkpoint_steps=0, mixed_precision="no", packing=True)

    with pytest.raises(ValueError, match="packing needs a causal decoder.*BertForSequenceClassification"):
        train(cfg, model=encoder, pad_token_id=PAD, train_pairs=varied_pairs(n=4), eval_pairs=[])


def test_first_fit_decreasing_fills_rows_without_overflowing_them():
    lengths = [9, 3, 7, 2, 5, 5, 1, 8]

    bins = first_fit_decreasing(lengths, 10)

    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 10 for b in bins)
    assert len(bins) == 4  # 40 tokens in rows of 10: 9+1, 8+2, 7+3, 5+5


@pytest.mark.parametrize("pack", [False, True])
def test_no_position_id_exceeds_the_longest_sequence(pack):
    # a shared-prompt row holds up to 2 x max_length - 1 tokens; the model has max_length positions
    pairs = [EncodedPair(chosen_ids=[1] + [2] * 9, rejected_ids=[3] + [4] * 9), EncodedPair(chosen_ids=[5, 6], rejected_ids=[5, 7])]

    batch = collate_packed(pairs, PAD, shared_prefix=True, pack=pack)

    assert batch["input_ids"].shape[1] == 20
    assert int(batch["position_ids"].max()) < 10


def test_longer_rows_pack_more_sequences_and_keep_each_ones_reward():
    model = tiny_decoder("llama").eval()
    pairs = varied_pairs(seed=4)
    short = collate_packed(pairs, PAD, shared_prefix=True, pack=True)
    long = collate_packed(pairs, PAD, shared_prefix=True, pack=True, row_tokens=96)

    with torch.no_grad():
        r_w, r_l = PairRewardModel(model, rows=True)(long)
        ref_w = torch.stack([alone(model, p.chosen_ids) for p in pairs])
        ref_l = torch.stack([alone(model, p.rejected_ids) for p in pairs])

    assert long["input_ids"].shape[0] < short["input_ids"].shape[0] and long["input_ids"].shape[1] <= 96
    assert long["num_padded_tokens"] < short["num_padded_tokens"] and long["num_tokens"] == short["num_tokens"]
    torch.testing.assert_close(r_w, ref_w, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(r_l, ref_l, rtol=1e-5, atol=1e-5)


def test_flex_attentions_block_mask_gives_each_sequences_reward_on_llama():
    model = tiny_decoder("llama", "flex_attention").eval()
    pairs = varied_pairs(seed=5)
    batch = collate_packed(pairs, PAD, shared_prefix=True, pack=True, row_tokens=64)

    with torch.no_grad():
        r_w, r_l = PairRewardModel(model, rows=True)(batch)
        model.config._attn_implementation = "sdpa"
        ref_w = torch.stack([alone(model, p.chosen_ids) for p in pairs])
        ref_l = torch.stack([alone(model, p.rejected_ids) for p in pairs])

    torch.testing.assert_close(r_w, ref_w, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(r_l, ref_l, rtol=1e-5, atol=1e-5)


def test_gpt2_on_flex_attention_is_refused_with_the_reason():
    model = tiny_decoder("gpt2", "flex_attention")
    batch = collate_packed(varied_pairs(n=2), PAD, shared_prefix=True, pack=True)

    with pytest.raises(ValueError, match="GPT-2.*flex_attention.*sdpa"):
        PairRewardModel(model, rows=True)(batch)
