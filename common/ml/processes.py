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


def process_share(accelerator, rows: list) -> list:
    """This process's rows of a step's `rows` (all processes'): consecutive slices whose sizes
    differ by at most one, in process order, so that the processes together take each row once."""
    world, rank = accelerator.num_processes, accelerator.process_index
    size, extra = divmod(len(rows), world)
    start = rank * size + min(rank, extra)
    return rows[start:start + size + (rank < extra)]


def sum_over_processes(accelerator, sums: dict) -> dict:
    """`sums` (name -> number) added up over all processes, the same on each (float64)."""
    import torch

    if accelerator.num_processes == 1:
        return sums
    total = accelerator.reduce(torch.tensor(list(sums.values()), dtype=torch.float64, device=accelerator.device),
                               reduction="sum")
    return dict(zip(sums, total.tolist()))
