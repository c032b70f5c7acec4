"""The agreement study: a second reading scored against the corpus labels, and the model on the same units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.labels import FLAG_LABELS
from training.agreement import READINGS_DIR, model_decisions, report
from training.dataset import load_corpus


@pytest.fixture
def study(tmp_path: Path, write_corpus) -> tuple[Path, Path]:
    corpus = write_corpus(
        "m",
        [
            ("test", [("I lied about Friday.", ["ownership"]), ("But you were ignoring me all week.", ["blame"])]),
            ("test", [("Sorry if you were hurt.", ["non_apology"]), ("Can we just move on?", ["pressure"])]),
        ],
    )
    readings = tmp_path / "readings"
    readings.mkdir()
    lines = [
        {"id": "m0", "index": 0, "text": "I lied about Friday.", "labels": ["ownership"], "reader": "a"},
        {"id": "m0", "index": 1, "text": "But you were ignoring me all week.", "labels": ["blame"], "reader": "a"},
        # reader b misses the pressure and reads an excuse where the corpus has none
        {"id": "m1", "index": 0, "text": "Sorry if you were hurt.", "labels": ["non_apology", "excuse"], "reader": "b"},
        {"id": "m1", "index": 1, "text": "Can we just move on?", "labels": [], "reader": "b"},
        # a unit whose text no longer matches the corpus is left out, and counted
        {"id": "m1", "index": 1, "text": "Can we move on now?", "labels": ["pressure"], "reader": "a"},
    ]
    (readings / "sample.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return corpus, readings


def test_readers_are_scored_against_the_corpus_labels(study):
    corpus, readings = study
    out = report(None, readings, corpus)
    assert out["units"] == 4 and out["units_no_longer_in_corpus"] == 1
    assert out["readers"]["a"]["f1"]["blame"] == 1.0 and out["readers"]["a"]["f1"]["ownership"] == 1.0
    b = out["readers"]["b"]["f1"]
    assert b["non_apology"] == 1.0 and b["pressure"] == 0.0 and b["excuse"] == 0.0
    assert out["all_readers"]["support"]["pressure"] == 1
    assert "model" not in out


def test_the_model_is_scored_on_the_same_units_as_the_analyzer_decides_them(study, tiny_analyzer, tiny_model_dir):
    corpus, readings = study
    examples = load_corpus(corpus)
    keys = [("m1", 1), ("m0", 0), ("m1", 0), ("m0", 1)]  # any order: each row is found by its key
    decided = model_decisions(tiny_model_dir, examples, keys)
    assert decided[:, : len(FLAG_LABELS)].any()  # the clear non-apology and pressure are flagged
    for (eid, index), row in zip(keys, decided, strict=True):
        text = next(ex["text"] for ex in examples if ex["id"] == eid)
        unit = next(ex["units"][index] for ex in examples if ex["id"] == eid)
        served = {
            f.pattern for f in tiny_analyzer.analyze(text).flags if (f.start, f.end) == (unit["start"], unit["end"])
        }
        assert served == {FLAG_LABELS[j] for j in range(len(FLAG_LABELS)) if row[j]}
    out = report(tiny_model_dir, readings, corpus)
    assert sum(out["model"]["support"].values()) == sum(out["all_readers"]["support"].values())


def test_the_shipped_readings_match_the_corpus():
    """The committed second reading still points at units of the committed corpus."""
    out = report(None, READINGS_DIR)
    assert out["units_no_longer_in_corpus"] == 0 and out["units"] >= 1000
    assert set(out["readers"]) == {"a", "b", "c"}
