"""Comparing the weights of two saved Hugging Face folders."""
from pathlib import Path


def saved_weights_equal(a, b) -> bool:
    """True when the model.safetensors of folders `a` and `b` hold the same tensors, bit for bit."""
    import torch
    from safetensors.torch import load_file

    wa, wb = load_file(str(Path(a) / "model.safetensors")), load_file(str(Path(b) / "model.safetensors"))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
