"""What the command lines of DPO, KTO and SPIN share (`python -m training.dpo|kto|spin`, also what
`accelerate launch` runs): reading the arguments, joining the processes, one JSON line per step."""
import argparse
import json
from collections.abc import Callable


def parse_launch(argv, *, doc: str, config_from_dict: Callable, files: dict[str, tuple[Callable, str]]):
    """The command line of DPO's, KTO's and SPIN's entry points: `files` (flag -> (reader, help)),
    the first required and not empty, the others optional; --start, --out and --config (the
    trainer's fields as JSON). -> (config, what each file holds ([] when not given), the parsed
    arguments). A malformed file or config is a usage error that names it."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for n, (flag, (_, help_text)) in enumerate(files.items()):
        parser.add_argument(flag, required=n == 0, help=help_text)
    parser.add_argument("--start", required=True, help="a local Hugging Face causal-LM folder: the start model and reference")
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", default="{}", help="the trainer's config fields as JSON")
    args = parser.parse_args(argv)
    try:
        cfg = config_from_dict(json.loads(args.config))
        paths = [getattr(args, flag[2:].replace("-", "_")) for flag in files]
        data = [reader(path) if path else [] for (reader, _), path in zip(files.values(), paths)]
        if not data[0]:
            raise ValueError(f"{paths[0]} holds nothing to learn from.")
    except (ValueError, TypeError) as exc:  # TypeError: an option of the wrong type
        parser.error(str(exc))
    return cfg, data, args


def launched(train: Callable, *, start) -> dict:
    """The end of DPO's, KTO's and SPIN's entry points: joins the processes of a launch, runs
    `train(tokenizer, on_step)` with an `on_step` that prints one JSON line per step (the main
    process's, which holds the whole step's metrics), and prints the summary on the main process."""
    from accelerate import PartialState

    from common.ml.loading import load_tokenizer
    from common.ml.processes import join_cpu_processes

    join_cpu_processes()

    def report(step: int, metrics: dict) -> bool:
        print(json.dumps({"step": step, **metrics}), flush=True)
        return False

    summary = train(load_tokenizer(start), report)
    if PartialState().is_main_process:  # after training, which set it up (from the launch's environment)
        print(json.dumps(summary), flush=True)
    return summary
