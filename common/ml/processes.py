"""Several training processes under `accelerate launch`, on machines with or without GPUs."""
import os


def join_cpu_processes() -> None:
    """On a machine without a GPU, the processes that `accelerate launch --multi_gpu` (torchrun)
    starts each train alone, as if on one device, unless ACCELERATE_USE_CPU is set; then they join
    one process group over gloo. Our entry points call this before building their Accelerator."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")
