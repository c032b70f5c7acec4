"""``python -m training.readers``: each reader of the units, alone and blended, on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.labels import LABELS
from training.dataset import load_corpus
from training.readers import knn_proba, main


def test_knn_reads_the_labels_of_the_nearest_units() -> None:
    keys = np.eye(4, dtype=np.float32)
    key_targets = np.zeros((4, len(LABELS)), dtype=np.int64)
    key_targets[1, 2] = key_targets[2, 2] = key_targets[2, 5] = 1
    query = np.array([[0.0, 0.8, 0.6, 0.0]], dtype=np.float32)  # nearer key 1 than key 2
    proba = knn_proba(query, keys, key_targets, k=2, temperature=0.1)
    assert proba[0, 2] == pytest.approx(1.0)  # both neighbours carry label 2
    assert 0.0 < proba[0, 5] < 0.5  # only the farther one carries label 5
    # a query equal to a key, at a temperature whose exp(1 / t) overflows float32 unless shifted
    assert knn_proba(keys[1:2], keys, key_targets, k=10, temperature=0.01)[0] == pytest.approx(key_targets[1])


def test_command_prints_every_reader_and_blend(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "small.jsonl"
    examples = load_corpus()
    keep = {"train": 200, "validation": 60, "test": 60}
    lines = []
    for split, n in keep.items():
        lines += [json.dumps(ex) for ex in examples if ex["split"] == split][:n]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")

    args = ["--model", str(tiny_model_dir), "--second-model", str(tiny_model_dir), "--corpus", str(corpus)]
    assert main(args) == 0
    rows = {row["readers"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {"encoder", "ngram", "knn", "base", "encoder_b", "encoder+ngram 0.4", "encoder+ngram per label"} <= set(rows)
    assert {"encoder+ngram 0.4 + knn 0.2", "mean(encoder, encoder_b)+ngram 0.4"} <= set(rows)
    assert rows["encoder_b"] == {**rows["encoder"], "readers": "encoder_b"}  # the same build, read twice
    assert all(0.0 <= row[split] <= 1.0 for row in rows.values() for split in ("validation", "test"))
    assert rows["encoder"]["test"] > 0.15  # the tiny model (0.26 here) finds flags in units it never saw
    assert set(rows["encoder+ngram per label"]["weights"]) == set(LABELS)
