"""Train a reward model on several GPUs or machines with `accelerate launch` (no Django, no worker):

    python manage.py export ... (or any JSONL of {"prompt": str | messages, "chosen": str, "rejected": str})
    accelerate launch --num_processes 8 -m rewardmodel.launch --base-model PATH --pairs train.jsonl \
        --output OUT [--eval-pairs eval.jsonl] [--config '{"batch_size": 8, "learning_rate": 1e-5}']

On one device: python -m rewardmodel.launch ... . The main process writes OUT as a standard Hugging
Face folder (+ model_card.json), atomically; bf16 is used on a GPU that supports it (mixed_precision 'auto').
"""
import argparse
import json
import sys


def read_pairs(path: str):
    from common.jsonl import read_jsonl
    from rewardmodel.text import PairExample
    from rewardmodel.text import as_messages

    rows = read_jsonl(path, ("prompt", "chosen", "rejected"))
    return [PairExample(pair_id=n, prompt_id=n, messages=as_messages(row["prompt"]), chosen=str(row["chosen"]),
                        rejected=str(row["rejected"])) for n, row in enumerate(rows, 1)]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-model", required=True)
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--eval-pairs")
    ap.add_argument("--output", required=True)
    ap.add_argument("--config", default="{}", help="JSON of RewardTrainConfig fields")
    args = ap.parse_args(argv)

    from common.artifacts import atomic_directory
    from common.ml.limits import positions_problem
    from common.ml.processes import join_cpu_processes
    from rewardmodel.backbone import backbone_problem, is_decoder, load_backbone
    from rewardmodel.config import RewardTrainConfig
    from rewardmodel.evaluation import pair_metrics
    from rewardmodel.text import encode_examples
    from common.ml.precision import make_accelerator
    from rewardmodel.trainer import score_pairs, train

    try:
        cfg = RewardTrainConfig(**json.loads(args.config))
        train_examples = read_pairs(args.pairs)
        eval_examples = read_pairs(args.eval_pairs) if args.eval_pairs else []
    except (ValueError, TypeError) as exc:  # a malformed file or config (TypeError: an unknown config field)
        ap.error(str(exc))
    if not train_examples:
        ap.error(f"{args.pairs} holds no pairs.")
    problem = backbone_problem(args.base_model) or positions_problem(
        args.base_model, tokens=cfg.max_length, setting="max_length", model=f"the backbone {args.base_model}")
    if problem:
        sys.exit(problem)
    join_cpu_processes()
    accelerator = make_accelerator(cfg.mixed_precision)
    model, tokenizer = load_backbone(args.base_model, seed=cfg.seed)
    decoder = is_decoder(model)
    train_pairs, n_truncated = encode_examples(tokenizer, train_examples, max_length=cfg.max_length, decoder=decoder)
    eval_pairs, _ = encode_examples(tokenizer, eval_examples, max_length=cfg.max_length, decoder=decoder)
    result = train(cfg, model=model, pad_token_id=tokenizer.pad_token_id, train_pairs=train_pairs,
                   eval_pairs=eval_pairs, accelerator=accelerator)
    summary = {"steps": result.steps, "n_truncated_train": n_truncated, "last": result.history[-1] if result.history else {}}
    if accelerator.is_main_process:
        model = accelerator.unwrap_model(model)
        if eval_pairs:
            r_w, r_l = score_pairs(model, eval_pairs, pad_token_id=tokenizer.pad_token_id)
            summary["evaluation"] = pair_metrics(r_w, r_l, [p.meta for p in eval_pairs])
        with atomic_directory(args.output) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            card = {"base_model_path": args.base_model, "pairs": args.pairs, "config": cfg.to_dict(), "metrics": summary}
            (tmp / "model_card.json").write_text(json.dumps(card, indent=2, default=str))
        print(json.dumps(summary, default=str))
    accelerator.wait_for_everyone()
    return summary


if __name__ == "__main__":
    main()
