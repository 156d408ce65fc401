"""The AI-labeller tests' judges, saved as ordinary Hugging Face folders: a tiny random GPT-2 with
a chat template (its answers are noise), and one whose every next token is "A" (the most
position-biased judge there is: it always picks the first response shown)."""
from pathlib import Path

import torch

from annotation.ai.prompting import DEFAULT_PRINCIPLE, DEFAULT_TEMPLATE
from common.ml.tiny import tiny_causal_lm
from common.ml.tokenizers import train_bpe_tokenizer

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")
WORDS = "the a cat dog sat on mat tree sun rain river stone blue green red quick slow happy sad banana".split()


def _tokenizer(path: Path):
    corpus = [DEFAULT_TEMPLATE, DEFAULT_PRINCIPLE, " ".join(WORDS), "A B A B", "user: assistant:"] * 20
    tok = train_bpe_tokenizer(corpus, vocab_size=400, save_dir=path)
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(str(path))
    return tok


def save_random_judge(path: Path, *, seed: int = 0) -> Path:
    tok = _tokenizer(path)
    tiny_causal_lm(tok, seed=seed, n_layer=1, n_embd=32, n_head=2, n_positions=512).save_pretrained(path)
    return path


@torch.no_grad()
def save_first_position_judge(path: Path) -> Path:
    """The final layer norm outputs a constant: 1000 x the embedding of "A", so that (with the head
    tied to the embeddings) "A" has by far the largest logit after any prompt."""
    tok = _tokenizer(path)
    model = tiny_causal_lm(tok, seed=0, n_layer=1, n_embd=32, n_head=2, n_positions=512)
    a = tok.encode("A", add_special_tokens=False)[0]
    ln_f = model.transformer.ln_f
    ln_f.weight.zero_()
    ln_f.bias.copy_(1000.0 * model.transformer.wte.weight[a])
    model.save_pretrained(path)
    return path
