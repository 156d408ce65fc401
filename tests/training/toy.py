"""The toy task of the PPO tests: a word-level vocabulary of a few dozen words, a tiny random
GPT-2 policy, and a reward model whose weights are set by hand so that it pays for one marker
word: its score rises with the share of marker tokens in the conversation. Both are saved as
ordinary Hugging Face folders and loaded by the PPO code exactly as trained models are."""
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from common.ml.tiny import tiny_causal_lm, tiny_reward_model

MARKER = "banana"
WORDS = ("the a cat dog sat ran on under mat tree big small red blue quick slow and then it was "
         "happy sad sun moon hello yes no maybe").split() + [MARKER]


def word_tokenizer(save_dir: Path | None = None):
    """A WordLevel tokenizer trained locally on the toy words (so decode -> encode round-trips)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(special_tokens=["<|endoftext|>", "<pad>", "<unk>"], show_progress=False)
    tok.train_from_iterator([" ".join(WORDS)] * 3, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   pad_token="<pad>", unk_token="<unk>")
    if save_dir is not None:
        fast.save_pretrained(str(save_dir))
    return fast


def save_policy(path: Path, *, seed: int = 0, n_embd: int = 32) -> Path:
    tok = word_tokenizer(path)
    model = tiny_causal_lm(tok, seed=seed, n_layer=1, n_embd=n_embd, n_head=2, n_positions=64)
    model.save_pretrained(path)
    return path


@torch.no_grad()
def save_marker_reward_model(path: Path, *, scale: float = 4.0) -> Path:
    """One-layer GPT-2 classifier, n_embd 8. Embedding: marker = (1, -1, 0...), other words
    = (-1, 1, 0...), no positions. Attention queries/keys are zero, so every position attends
    uniformly to all earlier ones; the value projection writes 1 for a marker, 0 otherwise into
    dimension 2, so the last position's dimension 2 = the share of marker tokens. The MLP adds
    nothing; the score head reads dimension 2 after the final layer norm (monotonic in it)."""
    tok = word_tokenizer(path)
    model = tiny_reward_model(tok, seed=0, n_layer=1, n_embd=8, n_head=1, n_positions=64)
    t = model.transformer
    for p in model.parameters():
        p.zero_()
    for ln in (t.h[0].ln_1, t.h[0].ln_2, t.ln_f):
        ln.weight.fill_(1.0)
    marker = tok.convert_tokens_to_ids(MARKER)
    t.wte.weight[:, 0], t.wte.weight[:, 1] = -1.0, 1.0
    t.wte.weight[marker, 0], t.wte.weight[marker, 1] = 1.0, -1.0
    attn = t.h[0].attn
    # c_attn is a Conv1D (in, 3 * n_embd): columns 16..23 are the value projection. After ln_1
    # a marker has dimension 0 = +2 and any other word -2: v_2 = 0.25 * x_0 + 0.5 is 1 or 0.
    attn.c_attn.weight[0, 16 + 2] = 0.25
    attn.c_attn.bias[16 + 2] = 0.5
    attn.c_proj.weight[2, 2] = 1.0
    model.score.weight[0, 2] = scale
    model.save_pretrained(path)
    return path


@torch.no_grad()
def save_eager_eos_policy(path: Path, *, eos_logit: float = 3.0) -> Path:
    """The toy policy, changed so that EOS is likely at every position (logit about `eos_logit`
    above the others, p(EOS) about 0.4): rows finish at different lengths and a batch usually
    finishes before its last token, so sampling stops early."""
    save_policy(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = word_tokenizer()
    # The LM head is tied to the embedding: logit_v = ln_f(h) . wte[v]. A final layer norm that
    # outputs the constant e_0 makes every logit wte[v, 0]: ~N(0, 0.02) but EOS's.
    model.transformer.ln_f.weight.zero_()
    model.transformer.ln_f.bias.zero_()
    model.transformer.ln_f.bias[0] = 1.0
    model.transformer.ln_f.weight[1:] = 1.0  # keep the rest of the state, so logits still vary by context
    model.transformer.wte.weight[tok.eos_token_id, 0] = eos_logit
    model.save_pretrained(path)
    return path
