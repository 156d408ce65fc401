"""Tokenizers trained locally, so that nothing is downloaded: a byte-level BPE over a corpus."""
from collections.abc import Iterable
from pathlib import Path

EOS = "<|endoftext|>"
PAD = "<pad>"


def train_bpe_tokenizer(texts: Iterable[str], *, vocab_size: int = 8000, save_dir: str | Path | None = None,
                        pad: bool = True):
    """Trains a byte-level BPE tokenizer on `texts` and returns it as a PreTrainedTokenizerFast
    (EOS doubles as BOS; a separate PAD, or with `pad=False` no pad token at all, like GPT-2, Llama
    or Qwen). With `save_dir`, it is saved there in the standard Hugging Face layout."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=PAD if pad else None)
    if save_dir is not None:
        fast.save_pretrained(str(save_dir))
    return fast


def char_tokenizer(chars: str, *, save_dir: str | Path | None = None):
    """A tokenizer with one token per character of `chars` (plus EOS and PAD, ids 0 and 1): for
    small arithmetic demos, where a BPE that spells "12" as one token hides the digits from the
    model. Characters outside `chars` become PAD. Saved like `train_bpe_tokenizer`'s."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if len(set(chars)) != len(chars):
        raise ValueError(f"Repeated characters in {chars!r}.")
    vocab = {symbol: i for i, symbol in enumerate([EOS, PAD, *chars])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=PAD))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), "isolated")
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=PAD)
    if save_dir is not None:
        fast.save_pretrained(str(save_dir))
    return fast
