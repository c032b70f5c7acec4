"""Read the hand-written sentence pools (``training/data/sentences/*.jsonl``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from service.labels import LABELS
from training.data import SENTENCES_DIR

SITUATIONS = (
    "infidelity", "lying", "money", "forgotten_commitment", "broken_promise", "privacy",
    "harsh_words", "family", "friendship", "roommates", "work", "parenting",
)  # fmt: skip
REGISTERS = ("careful", "texting", "terse", "emotional")
GENRES = (
    "work_email", "chat_banter", "forum_comment", "social_media", "opinion", "jokes_sarcasm", "sports",
    "games", "tech_support", "news_discussion", "recipes", "travel", "health", "school", "shopping",
    "customer_service", "congratulations", "condolence", "questions", "plans", "venting", "hobbies",
    "movies_books", "pets", "home_diy", "science", "music", "finance", "weather", "parenting_everyday",
    "online_debate", "relationship_advice", "gossip", "trash_talk",
)  # fmt: skip


class PoolError(ValueError):
    """A line of a sentence pool breaks the authoring format; the message names file and line."""


@dataclass(frozen=True)
class Clause:
    offset: int  # into the sentence
    text: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Sentence:
    text: str
    labels: tuple[str, ...]
    situation: str
    register: str
    genre: str | None
    hard_negative: bool
    clauses: tuple[Clause, ...] = field(default=())
    origin: str = ""  # "file.jsonl:LINE"


def normalise(text: str) -> str:
    """Lowercase, letters and digits only, single spaces: the key for exact-duplicate checks."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _check_labels(labels: object, where: str) -> tuple[str, ...]:
    if not isinstance(labels, list) or any(label not in LABELS for label in labels):
        raise PoolError(f"{where}: labels must be a list drawn from {LABELS}, got {labels!r}")
    return tuple(sorted(set(labels), key=LABELS.index))


def parse_line(raw: str, where: str) -> Sentence:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PoolError(f"{where}: not valid JSON ({exc.msg})") from None
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip() or text != text.strip():
        raise PoolError(f"{where}: text must be a non-empty string without surrounding spaces")
    labels = _check_labels(obj.get("labels"), where)
    situation, register, genre = obj.get("situation"), obj.get("register"), obj.get("genre")
    if situation not in (*SITUATIONS, "none"):
        raise PoolError(f"{where}: unknown situation {situation!r}")
    if register not in REGISTERS:
        raise PoolError(f"{where}: unknown register {register!r}")
    if situation == "none" and genre not in GENRES:
        raise PoolError(f"{where}: an everyday sentence (situation none) needs a genre from the list, got {genre!r}")
    clauses: list[Clause] = []
    if obj.get("clauses"):
        parts = obj["clauses"]
        if " ".join(c.get("text", "") for c in parts) != text:
            raise PoolError(f"{where}: clause texts joined with single spaces must equal text")
        offset = 0
        for c in parts:
            clauses.append(Clause(offset, c["text"], _check_labels(c.get("labels"), where)))
            offset += len(c["text"]) + 1
        union = {label for c in clauses for label in c.labels}
        if union != set(labels):
            raise PoolError(f"{where}: labels {sorted(labels)} must be the union of the clause labels {sorted(union)}")
    return Sentence(
        text=text,
        labels=labels,
        situation=situation,
        register=register,
        genre=genre if situation == "none" else None,
        hard_negative=bool(obj.get("hard_negative", False)),
        clauses=tuple(clauses),
        origin=where,
    )


def load_pools(directory: Path = SENTENCES_DIR) -> list[Sentence]:
    sentences = []
    for path in sorted(directory.glob("*.jsonl")):
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if raw.strip():
                sentences.append(parse_line(raw, f"{path.name}:{number}"))
    return sentences


def dedupe(sentences: list[Sentence]) -> tuple[list[Sentence], int]:
    """Keep the first of sentences whose normalised texts match; also return how many were dropped."""
    seen: set[str] = set()
    kept = []
    for s in sentences:
        key = normalise(s.text)
        if key not in seen:
            seen.add(key)
            kept.append(s)
    return kept, len(sentences) - len(kept)
