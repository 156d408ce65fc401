"""The sampler's host-sync-free token loop and its static-cache decoder give the tokens of the
per-token loop on the dynamic cache."""
import pytest
import torch

from tests.training import toy
from training.rollout import StaticDecoder, sample_responses

MAX_NEW = 12


@pytest.fixture(scope="module")
def eager_eos(tmp_path_factory):
    """(model, tokenizer, query, query_mask): the eager-EOS toy policy and 8 left-padded prompts."""
    from transformers import AutoModelForCausalLM

    path = toy.save_eager_eos_policy(tmp_path_factory.mktemp("eager-eos"))
    tok = toy.word_tokenizer()
    tok.padding_side = "left"
    enc = tok(["the cat sat", "a dog", "the big red sun was happy", "no", "yes maybe", "the moon", "it ran", "sad"],
              return_tensors="pt", padding=True)
    return AutoModelForCausalLM.from_pretrained(path).eval(), tok, enc["input_ids"], enc["attention_mask"]


def sample(model, tok, query, mask, *, seed=0, **options):
    generator = torch.Generator().manual_seed(seed)
    responses, logprobs, distributions = sample_responses(
        model, query, mask, max_new_tokens=options.pop("max_new_tokens", MAX_NEW), temperature=1.0, top_p=1.0,
        eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, generator=generator, **options)
    return responses, logprobs, distributions, generator.get_state()


@pytest.mark.parametrize("sampler", ["race", "inverse_cdf"])
@pytest.mark.parametrize("sync_every", [2, 3, 5, 64])
def test_checking_every_k_tokens_gives_the_per_token_checks_tokens_logprobs_and_generator(eager_eos, sampler,
                                                                                           sync_every):
    model, tok, query, mask = eager_eos
    for seed in range(4):
        per_token = sample(model, tok, query, mask, seed=seed, sampler=sampler, keep_distributions=True)
        every_k = sample(model, tok, query, mask, seed=seed, sampler=sampler, keep_distributions=True,
                         sync_every=sync_every)

        assert per_token[0].shape[1] < MAX_NEW  # the batch finished early: there was something to trim
        assert torch.equal(every_k[0], per_token[0])  # same tokens, same R
        assert torch.equal(every_k[1], per_token[1])  # same log-probabilities, bit for bit
        assert torch.equal(every_k[2], per_token[2])
        assert torch.equal(every_k[3], per_token[3])  # the generator is where the per-token loop leaves it


def test_a_batch_that_never_finishes_keeps_every_column(eager_eos):
    model, tok, query, mask = eager_eos
    per_token = sample(model, tok, query, mask, max_new_tokens=2)
    every_k = sample(model, tok, query, mask, max_new_tokens=2, sync_every=4)

    assert per_token[0].shape[1] == 2
    assert torch.equal(every_k[0], per_token[0]) and torch.equal(every_k[1], per_token[1])
    assert torch.equal(every_k[3], per_token[3])


def tiny_llama(tok):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id)).eval()


@pytest.mark.parametrize("architecture", ["gpt2", "llama"])
def test_the_static_cache_samples_the_dynamic_caches_tokens(eager_eos, architecture):
    model, tok, query, mask = eager_eos
    if architecture == "llama":
        model = tiny_llama(tok)
    decoder = StaticDecoder(query.shape[1] + MAX_NEW)
    for seed in range(3):  # the decoder's cache is reused from one rollout to the next
        dynamic = sample(model, tok, query, mask, seed=seed)
        static = sample(model, tok, query, mask, seed=seed, decoder=decoder)

        assert torch.equal(static[0], dynamic[0])
        torch.testing.assert_close(static[1], dynamic[1], rtol=1e-5, atol=1e-5)


def test_a_compiled_decode_step_samples_the_dynamic_caches_tokens(eager_eos):
    """torch.compile's graph capture of the decode step with the static cache, run by the "eager"
    backend: inductor's CPU code generation takes minutes on two cores, and what it would add
    (generated kernels, CUDA graphs) is what the GPU benchmark measures."""
    model, tok, query, mask = eager_eos
    torch._dynamo.reset()
    decoder = StaticDecoder(query.shape[1] + MAX_NEW, compile=True, backend="eager")
    for seed in range(2):
        dynamic = sample(model, tok, query, mask, seed=seed, sync_every=4)
        compiled = sample(model, tok, query, mask, seed=seed, sync_every=4, decoder=decoder)

        assert torch.equal(compiled[0], dynamic[0])
        torch.testing.assert_close(compiled[1], dynamic[1], rtol=1e-5, atol=1e-5)
