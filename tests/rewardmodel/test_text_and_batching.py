import pytest
import torch

from rewardmodel.backbone import default_backbone_path, load_backbone
from rewardmodel.batching import EncodedPair, collate, length_grouped_batches, split_by_token_budget
from rewardmodel.losses import PreferenceHead, preference_loss
from rewardmodel.text import PairExample
from rewardmodel.text import encode, encode_examples, render


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_backbone_path(), local_files_only=True)


def test_truncation_keeps_the_end_and_the_start_token(minilm_tokenizer):
    tok = minilm_tokenizer
    text = render(tok, [{"role": "user", "content": "tell me " * 200}], "the final answer is zebra", decoder=False)

    ids, truncated = encode(tok, text, max_length=32, decoder=False)

    assert truncated and len(ids) == 32
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert tok.decode(ids[-8:-1]).endswith("the final answer is zebra")


def test_long_pairs_are_counted_never_dropped(tiny_backbone):
    model, tok = load_backbone(tiny_backbone, seed=0)
    long_prompt = [{"role": "user", "content": "the cat " * 300}]
    examples = [PairExample(1, 1, long_prompt, "dog banana", "dog"), PairExample(2, 2, [{"role": "user", "content": "hi"}], "a", "b")]

    pairs, n_truncated = encode_examples(tok, examples, max_length=40, decoder=True)

    assert len(pairs) == 2 and n_truncated == 1
    assert pairs[0].truncated and len(pairs[0].chosen_ids) == 40
    assert pairs[0].chosen_ids[-1] == tok.eos_token_id  # the reward token survives truncation
    assert pairs[0].chosen_ids[:-1] != pairs[0].rejected_ids[:-1]  # the responses, at the end, are kept


def test_micro_batches_under_a_token_budget_give_the_same_gradient(tiny_backbone):
    model, tok = load_backbone(tiny_backbone, seed=0)
    pairs = [EncodedPair(chosen_ids=list(range(5, 5 + n)), rejected_ids=list(range(7, 7 + n // 2 + 1)), weight=1 + n % 3)
             for n in (3, 20, 9, 30, 14, 6)]
    head = PreferenceHead(length_control=False, tie_aware=False)
    total = sum(p.weight for p in pairs)

    def grads(groups):
        model.zero_grad()
        for group in groups:
            batch = collate([pairs[i] for i in group], tok.pad_token_id)
            r = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, 0]
            n = len(group)
            loss = (preference_loss(r[:n], r[n:], batch, head=head, use_margin=False, center_rewards_coefficient=0.01) * batch["weight"]).sum() / total
            loss.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    micro = split_by_token_budget(list(range(6)), pairs, max_tokens=64)
    assert len(micro) > 2 and all(2 * len(m) * max(pairs[i].n_tokens for i in m) <= 64 for m in micro if len(m) > 1)
    assert torch.allclose(grads([list(range(6))]), grads(micro), atol=1e-5)


def test_length_grouped_batches_cover_every_pair_once_and_group_lengths():
    pairs = [EncodedPair(chosen_ids=[1] * n, rejected_ids=[1]) for n in range(1, 65)]

    batches = length_grouped_batches(pairs, batch_size=8, window=8, seed=3)

    assert sorted(i for b in batches for i in b) == list(range(64))
    assert all(max(pairs[i].n_tokens for i in b) - min(pairs[i].n_tokens for i in b) == 7 for b in batches)
    assert batches == length_grouped_batches(pairs, batch_size=8, window=8, seed=3)


def test_the_launch_entry_point_trains_from_a_pairs_file(tiny_backbone, tmp_path):
    import json

    from rewardmodel.launch import main

    rows = [{"prompt": f"Question {i}?", "chosen": "the cat banana", "rejected": "the cat"} for i in range(8)]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows))

    summary = main(["--base-model", tiny_backbone, "--pairs", str(tmp_path / "pairs.jsonl"), "--eval-pairs",
                    str(tmp_path / "pairs.jsonl"), "--output", str(tmp_path / "out"), "--config", '{"batch_size": 4, "checkpoint_steps": 0, "max_length": 64}'])

    assert summary["steps"] == 2 and summary["evaluation"]["n_pairs"] == 8
    assert (tmp_path / "out" / "model.safetensors").exists() and (tmp_path / "out" / "model_card.json").exists()


def test_the_shared_prefix_layout_gives_exactly_the_rewards_of_separate_sequences(tiny_backbone):
    from rewardmodel.batching import collate_shared_prefix
    from rewardmodel.trainer import PairRewardModel

    model, tok = load_backbone(tiny_backbone, seed=0)
    model.eval()
    pairs = [EncodedPair(chosen_ids=[5, 6, 7, 8, 9, 10, 11], rejected_ids=[5, 6, 7, 12, 13]),
             EncodedPair(chosen_ids=[3, 4], rejected_ids=[9] * 10),  # nothing shared (as after truncation)
             EncodedPair(chosen_ids=[1, 2, 3], rejected_ids=[1, 2, 3])]
    with torch.no_grad():
        separate = PairRewardModel(model, rows=False)(collate(pairs, tok.pad_token_id))
        shared = PairRewardModel(model, rows=True)(collate_shared_prefix(pairs, tok.pad_token_id))

    assert torch.allclose(separate[0], shared[0], atol=1e-5) and torch.allclose(separate[1], shared[1], atol=1e-5)
