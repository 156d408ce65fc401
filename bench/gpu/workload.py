"""What both sides of bench/gpu/compare.py share: the device's clock and peak memory, the data (the
HH sample in data/demo/ and a byte-level BPE of 8,000 tokens trained on it) and the random-init models, so that TRL and Arbiter get exactly the same work."""
import gzip
import json
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HH_FILE = ROOT / "data" / "demo" / "hh-harmless-1000.jsonl.gz"
SEED = 1234
PROMPT_TOKENS = 64
"""Prompts are cut from the left to this many tokens (PPO)."""


# -- the device ------------------------------------------------------------------------------------

class Device:
    """Where the work runs, a synchronised clock and peak memory in GiB."""

    def __init__(self):
        import torch

        self.torch = torch
        self.cuda = torch.cuda.is_available()
        self.name = torch.cuda.get_device_name() if self.cuda else "cpu"
        self.type = "cuda" if self.cuda else "cpu"
        self.memory = "torch.cuda.max_memory_allocated" if self.cuda else "peak RSS"

    def now(self) -> float:
        if self.cuda:
            self.torch.cuda.synchronize()
        return time.perf_counter()

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float:
        if self.cuda:
            return round(self.torch.cuda.max_memory_allocated() / 2**30, 3)
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)  # KiB on Linux


# -- data and models ---------------------------------------------------------------------------------

def load_rows() -> list[dict]:
    with gzip.open(HH_FILE, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def bench_tokenizer(cache_dir: Path):
    """The 8k byte-level BPE trained on the HH sample, trained once and read back after."""
    from transformers import PreTrainedTokenizerFast

    from common.ml.tokenizers import train_bpe_tokenizer

    path = cache_dir / "bpe8000"
    if not (path / "tokenizer.json").exists():
        rows = load_rows()
        texts = [t for r in rows for t in (r["chosen"], r["rejected"])]
        train_bpe_tokenizer(texts, vocab_size=8000, save_dir=path)
    tok = PreTrainedTokenizerFast.from_pretrained(str(path))
    tok.padding_side = "right"
    return tok


def encode_pairs(tok, rows: list[dict], max_len: int) -> list[tuple[list[int], list[int]]]:
    """(chosen ids, rejected ids), each with EOS appended and cut from the left to `max_len`."""
    enc = tok([t for r in rows for t in (r["chosen"], r["rejected"])], add_special_tokens=False)["input_ids"]
    eos = tok.eos_token_id
    return [((enc[i] + [eos])[-max_len:], (enc[i + 1] + [eos])[-max_len:]) for i in range(0, len(enc), 2)]


def first_turn(text: str) -> str:
    cut = text.find("\n\nAssistant:")
    return text[: cut + len("\n\nAssistant:")] if cut >= 0 else text


def reward_backbone(args, tok, *, positions: int, seed: int):
    """A scalar-head sequence classifier, random init: GPT-2 (common/ml/tiny.py) or Llama-shaped."""
    import torch

    if args.arch == "gpt2":
        from common.ml.tiny import tiny_reward_model

        return tiny_reward_model(tok, seed=seed, n_layer=args.layers, n_embd=args.embd, n_head=args.heads,
                                 n_positions=positions)
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(seed)
    return LlamaForSequenceClassification(LlamaConfig(
        vocab_size=len(tok), hidden_size=args.embd, num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.heads, intermediate_size=int(args.embd * 2.75) // 64 * 64,
        max_position_embeddings=positions, num_labels=1, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id))
