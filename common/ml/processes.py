"""Several training processes under `accelerate launch`, on machines with or without GPUs."""
import os


def join_cpu_processes() -> None:
    """On a machine without a GPU, the processes that `accelerate launch --multi_gpu` (torchrun)
    starts each train alone, as if on one device, unless ACCELERATE_USE_CPU is set; then they join
    one process group over gloo. Our entry points call this before building their Accelerator."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def stop_together(accelerator, ask) -> bool:
    """Runs `ask()` (a step callback that returns True to stop) on the main process only, and
    returns its answer on every process: under DDP they must all stop at the same step, or the
    others wait forever for the gradients of the next one."""
    import torch

    stop = bool(ask()) if accelerator.is_main_process else False
    if accelerator.num_processes > 1:
        stop = bool(accelerator.reduce(torch.tensor([int(stop)], device=accelerator.device), reduction="sum").item())
    return stop
