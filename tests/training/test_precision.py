"""One mixed-precision resolver for every trainer: bf16 only where the GPU supports it."""
import pytest
import torch

from common.ml.precision import resolve_mixed_precision


def gpu(monkeypatch, *, bf16: bool):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)


def test_auto_is_bf16_on_a_gpu_that_supports_it(monkeypatch):
    gpu(monkeypatch, bf16=True)

    assert resolve_mixed_precision("auto") == "bf16"


def test_auto_is_fp32_on_a_gpu_without_bf16(monkeypatch):
    gpu(monkeypatch, bf16=False)

    assert resolve_mixed_precision("auto") == "no"


def test_an_explicit_bf16_on_a_gpu_without_it_is_refused_by_name(monkeypatch):
    gpu(monkeypatch, bf16=False)

    with pytest.raises(ValueError, match="mixed_precision is 'bf16' but this GPU does not support bf16"):
        resolve_mixed_precision("bf16")


def test_auto_is_fp32_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    assert resolve_mixed_precision("auto") == "no"


def test_an_unknown_choice_is_refused_by_name():
    with pytest.raises(ValueError, match="mixed_precision must be one of auto, no, bf16, not 'fp8'"):
        resolve_mixed_precision("fp8")


def test_one_worker_process_serves_runs_of_different_precisions_one_after_another():
    """A Celery worker trains run after run in one process, and accelerate keeps one precision per
    process: a run asking for another precision than the last one must still get its own."""
    from common.ml.precision import make_accelerator

    assert make_accelerator("no").mixed_precision == "no"
    assert make_accelerator("bf16").mixed_precision == "bf16"
    assert make_accelerator("no").mixed_precision == "no"
