"""Small GPT-2-style models built from a config (random init): the offline demo's policy and the
tests' models. Nothing here loads weights from anywhere."""


def gpt2_config(tokenizer, *, n_layer: int = 2, n_embd: int = 128, n_head: int = 4, n_positions: int = 256, **extra):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        summary_first_dropout=0.0,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def tiny_causal_lm(tokenizer, *, seed: int = 0, **config):
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(gpt2_config(tokenizer, **config))


def tiny_reward_model(tokenizer, *, seed: int = 0, **config):
    """A GPT-2 sequence classifier with one output: a scalar reward."""
    import torch
    from transformers import GPT2ForSequenceClassification

    torch.manual_seed(seed)
    return GPT2ForSequenceClassification(gpt2_config(tokenizer, num_labels=1, **config))
