"""Mixed precision, decided in one place for every trainer (reward model, SFT, PPO). Importable
without torch, so that configs can name the choices."""

MIXED_PRECISION_CHOICES = ("auto", "no", "bf16")


def resolve_mixed_precision(requested: str) -> str:
    """"auto" -> "bf16" only on a GPU that supports it (`torch.cuda.is_bf16_supported()`: not a
    V100 or T4, say), else "no". An explicit "bf16" on a GPU without bf16 support is refused; on a
    CPU it is allowed (CPU autocast supports bf16)."""
    import torch

    if requested not in MIXED_PRECISION_CHOICES:
        raise ValueError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION_CHOICES)}, not {requested!r}.")
    gpu = torch.cuda.is_available()
    gpu_bf16 = gpu and torch.cuda.is_bf16_supported()
    if requested == "auto":
        return "bf16" if gpu_bf16 else "no"
    if requested == "bf16" and gpu and not gpu_bf16:
        raise ValueError("mixed_precision is 'bf16' but this GPU does not support bf16; use 'auto' or 'no'.")
    return requested


def make_accelerator(mixed_precision: str = "auto"):
    """An Accelerator with the resolved precision. Accelerate keeps one precision per process, and a
    worker trains run after run in one process: when this run's precision differs from the last
    one's, the precision state is dropped first (the process group, kept in PartialState, stays)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    precision = resolve_mixed_precision(mixed_precision)
    state = AcceleratorState._shared_state
    if state and str(state.get("_mixed_precision")) != precision:
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision=precision)
