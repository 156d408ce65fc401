"""Wall time per phase of a training step, for the `time/*_s` metrics."""
import time
from contextlib import contextmanager

import torch


class PhaseTimer:
    """Adds each phase's wall time to `seconds[name]`. On CUDA, kernels run after the Python that
    queued them returns, so the timer synchronises the device at each phase boundary (entry and
    exit), never inside a phase: a phase is charged for its own kernels, and the token loop and the
    mini-batch loop keep running ahead of the device. Elsewhere it only reads the clock."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"
        self.seconds: dict[str, float] = {}

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    @contextmanager
    def phase(self, name: str):
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
