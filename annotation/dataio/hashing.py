"""Content hashes: what makes a re-import recognise prompts, responses, pairs and judgements it
already holds."""
import hashlib
import json


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def prompt_hash(messages: list[dict]) -> str:
    return sha256(canonical(messages))


def response_hash(text: str) -> str:
    return sha256(text)


def pair_hash(prompt_hash_: str, a_source: str, a_hash: str, b_source: str, b_hash: str) -> str:
    return sha256(canonical([prompt_hash_, a_source, a_hash, b_source, b_hash]))


def judgement_key(*, dataset_id: int, pair_hash_: str, fields: dict, occurrence: int) -> str:
    """The idempotency key of an imported judgement: its pair, annotator and every recorded field,
    plus how many identical judgements came before it in the file (so true repeats stay apart)."""
    return "import:" + sha256(canonical([dataset_id, pair_hash_, fields, occurrence]))
