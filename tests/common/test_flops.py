import pytest

from common.ml.flops import model_flops_utilisation, model_parameters


def test_gpt2_parameters_without_embeddings_follow_the_12_d_squared_formula():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    L, d, V, P = 3, 48, 100, 64
    model = GPT2ForSequenceClassification(GPT2Config(vocab_size=V, n_positions=P, n_embd=d, n_layer=L, n_head=4, num_labels=1))
    per_layer = 12 * d * d + 13 * d  # qkv d x 3d + 3d, proj d x d + d, mlp d x 4d + 4d and 4d x d + d, two layer norms 2d each

    assert model_parameters(model) == L * per_layer + 2 * d + d  # + final layer norm + score head (d x 1, no bias)
    assert model_parameters(model, embeddings=True) == model_parameters(model) + V * d + P * d


def test_mfu_is_six_n_tokens_per_second_over_the_peak():
    # 1e9 parameters x 6 x 2,000 tokens in 4 s = 3e12 FLOP/s, against a 10 TFLOP/s peak
    assert model_flops_utilisation(10**9, 2000, 4.0, 10.0) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        model_flops_utilisation(10**9, 2000, 0.0, 10.0)
