"""`accelerate launch` of one of our entry points as several CPU processes (gloo), for the tests
that check several processes give the answer of one."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_launch(module: str, args: list[str], *, num_processes: int, home: Path) -> list[dict]:
    """Runs `accelerate launch -m module args` as `num_processes` CPU processes and returns the JSON
    objects they printed, one per stdout line. GPUs are hidden, so the processes join one gloo
    group the way our entry points make them do on a machine without a GPU
    (common/ml/processes.py). `home` isolates accelerate's default config file (an `accelerate
    config` of the machine would override the flags)."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "HF_HOME": str(home),
           "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()), "-m", module, *args,
    ]
    # The timeout is a liveness guard (a process stuck in a collective would hang the suite), not a speed bound.
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"accelerate launch failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-6000:]}"
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
