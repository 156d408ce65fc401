"""Loading trained weights strictly: every weight of the folder must fit the model it is loaded into."""

LOADING_PROBLEMS = ("missing_keys", "unexpected_keys", "mismatched_keys")


def from_pretrained_strict(model_class, path, **kwargs):
    """`model_class.from_pretrained(path)`, raising ValueError naming the weights when one is
    missing, unexpected or of another shape (from_pretrained would initialise a missing one at
    random, drop an unexpected one, and only log it). For a trained run or a checkpoint, never for
    a base model that gets a new head."""
    model, info = model_class.from_pretrained(str(path), output_loading_info=True, **kwargs)
    problems = [f"{kind.replace('_', ' ')}: {', '.join(sorted(map(str, info[kind]))[:5])}"
                for kind in LOADING_PROBLEMS if info.get(kind)]
    if problems:
        raise ValueError(f"The weights in {path} do not fit a {model_class.__name__} ({'; '.join(problems)}).")
    return model


def load_tokenizer(path):
    """A model folder's tokenizer. One without a pad token (GPT-2, Llama, Qwen, Mistral) gets
    pad = EOS so that batches can be padded; padding is told apart by the attention mask, never by
    the pad id."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.sep_token
    return tokenizer
