"""Read the corpus into classifier examples: one row per unit, read with its neighbours."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.labels import LABEL2ID, LABELS
from service.segmenter import CONTEXT_WORDS, Unit, contexts
from training.data import CORPUS_PATH


@dataclass(frozen=True)
class UnitRow:
    example_id: str
    text: str
    context: str
    labels: tuple[str, ...]

    def target(self) -> np.ndarray:
        return label_vector(self.labels)


def label_vector(labels) -> np.ndarray:
    """The multi-hot vector of ``labels`` over :data:`LABELS`."""
    y = np.zeros(len(LABELS), dtype=np.float32)
    for label in labels:
        y[LABEL2ID[label]] = 1.0
    return y


def load_corpus(path: Path = CORPUS_PATH) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def unit_rows(examples: list[dict], context_words: int = CONTEXT_WORDS) -> list[UnitRow]:
    """One row per unit, read with ``context_words`` words of its neighbours (the model's setting)."""
    rows = []
    for ex in examples:
        units = [Unit(u["start"], u["end"], ex["text"][u["start"] : u["end"]]) for u in ex["units"]]
        for unit, ctx, gold in zip(units, contexts(units, context_words), ex["units"], strict=True):
            rows.append(UnitRow(ex["id"], unit.text, ctx, tuple(gold["labels"])))
    return rows


def split_rows(examples: list[dict], split: str, context_words: int = CONTEXT_WORDS) -> list[UnitRow]:
    return unit_rows([ex for ex in examples if ex["split"] == split], context_words)


def targets(rows: list[UnitRow]) -> np.ndarray:
    return np.stack([r.target() for r in rows]) if rows else np.zeros((0, len(LABELS)), dtype=np.float32)


def message_index(rows: list[UnitRow]) -> tuple[list[str], np.ndarray]:
    """The rows' example ids, sorted, and each row's position in that list (its message)."""
    ids = sorted({r.example_id for r in rows})
    index = {eid: k for k, eid in enumerate(ids)}
    return ids, np.array([index[r.example_id] for r in rows], dtype=np.int64)
