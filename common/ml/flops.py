"""Model-FLOPs utilisation (MFU), counted one way for every trainer and benchmark.

MFU = 6 x N x real tokens per second / peak FLOP/s (Kaplan et al. 2020's 6N per token for a
forward and backward pass; PaLM's MFU). Real tokens are the tokens that went through the model,
padding excluded (with the shared-prompt layout a prompt is counted once, as it is computed
once). N is the non-embedding parameter count: an embedding (token or position) is a table
lookup, not a matmul, so it costs no FLOPs of the 6N kind; the LM's tied output projection,
which would be a matmul, does not exist in a reward model (its head is d x 1). Attention's own
FLOPs (the QK^T and AV products, 12 x layers x width x context per token) are left out, as in
the issue's definition, so the figure is conservative for long sequences.
"""
import time

H200_BF16_PEAK_TFLOPS = 790.0
"""The H200's measured dense bf16 matmul rate (the issue's figure; the datasheet's is 989)."""


def model_parameters(model, *, embeddings: bool = False) -> int:
    """Parameters of `model` (each shared tensor once), without those of its `nn.Embedding`
    modules unless `embeddings`."""
    from torch import nn

    skip = set()
    if not embeddings:
        skip = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters(recurse=False)}
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) not in seen and id(p) not in skip:
            seen.add(id(p))
            total += p.numel()
    return total


def model_flops_utilisation(n_params: int, real_tokens: int, seconds: float, peak_tflops: float) -> float:
    """6 x `n_params` x `real_tokens` / `seconds`, as a share of `peak_tflops` (TFLOP/s): 0.4 = 40%."""
    if seconds <= 0 or peak_tflops <= 0:
        raise ValueError("seconds and peak_tflops must be positive")
    return 6.0 * n_params * real_tokens / seconds / (peak_tflops * 1e12)


def matmul_tflops(*, size: int = 1024, repeats: int = 20, dtype=None, device: str = "cpu") -> float:
    """This device's measured dense matmul rate in TFLOP/s (best of `repeats` size x size products):
    a peak to put MFU against where no datasheet figure applies (a CPU with its thread count)."""
    import torch

    dtype = dtype or torch.float32
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    best = float("inf")
    for _ in range(repeats + 2):  # two warm-up products
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e12
