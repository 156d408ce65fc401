import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_directory(final_path: str | Path):
    """Yields an empty temporary folder beside `final_path`; on success renames it into place, so
    a reader sees either no folder or a whole one, never a half-written model."""
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final_path.name}.tmp-", dir=final_path.parent))
    try:
        yield tmp
        if final_path.exists():
            old = final_path.with_name(f".{final_path.name}.old-{os.getpid()}")
            os.replace(final_path, old)
            os.replace(tmp, final_path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def training_checkpoint_save(target: str | Path, *, accelerator, models: dict, optimizer=None, state: dict | None = None):
    """A trainer's checkpoint, written by the main process only and atomically: each of `models`
    ({subfolder: (model, tokenizer or None)}, "" for `target` itself) as a Hugging Face folder, and,
    when `state` is given (a resumable checkpoint rather than a final model), the optimizer's state
    and `state` as JSON."""
    import json

    import torch

    if not accelerator.is_main_process:
        return
    with atomic_directory(target) as tmp:
        for folder, (model, tokenizer) in models.items():
            accelerator.unwrap_model(model).save_pretrained(tmp / folder)
            if tokenizer is not None:
                tokenizer.save_pretrained(tmp / folder)
        if state is not None:
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            (tmp / "state.json").write_text(json.dumps(state))
