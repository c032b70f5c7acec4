"""The topic gate: the base encoder judges whole messages, and a flag needs the message to pass it."""

import json
import shutil

import numpy as np
import pytest

from service.analyzer import Analyzer
from service.classifier import METADATA_FILE, ModelNotFoundError
from service.loader import load_classifier
from service.onnx_backend import ChecksumError, sha256
from service.topic_gate import GATE_FILE, TopicGate, gate_flags

APOLOGY = "I'm sorry I lied to you about the money. You didn't deserve that, and I'll pay it back on Friday."
EVERYDAY = "The bus was late again this morning, so I grabbed a coffee and read about the transfer window."
DRAFT = "I'm sorry if you were hurt, but you're overreacting."


@pytest.fixture(scope="module")
def record(tiny_model_dir):
    return json.loads((tiny_model_dir / METADATA_FILE).read_text())["topic_gate"]


def test_the_build_records_the_gate_with_its_checksum_and_threshold(tiny_model_dir, record):
    assert record["file"] == GATE_FILE
    assert record["sha256"] == sha256(tiny_model_dir / GATE_FILE)
    assert len(record["weights"]) == 384
    assert 0.0 < record["threshold"] < 1.0
    assert record["fusions"]["Attention"] == 6  # the base encoder was fused before int8, like the classifier


def test_an_apology_reads_as_conflict_and_everyday_text_does_not(tiny_model_dir, record):
    gate = TopicGate(tiny_model_dir, record)
    apology, everyday = gate.scores([APOLOGY, EVERYDAY])
    assert apology > everyday
    assert gate.allows([APOLOGY]).all()
    vectors = gate.embed([APOLOGY, EVERYDAY, APOLOGY])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])  # one message per run: nothing shifts its scores


def test_a_closed_gate_removes_flags_and_keeps_strengths(tiny_model_dir, monkeypatch):
    analyzer = Analyzer(load_classifier(tiny_model_dir))
    gate = analyzer.classifier.topic_gate
    monkeypatch.setattr(gate, "threshold", 0.0)
    open_analysis = analyzer.analyze(DRAFT + " I'll give you all the time you need.")
    assert open_analysis.flags
    monkeypatch.setattr(gate, "threshold", 1.01)
    closed = analyzer.analyze(DRAFT + " I'll give you all the time you need.")
    assert closed.flags == []
    assert [s.strength for s in closed.strengths] == [s.strength for s in open_analysis.strengths]


class _Recorder:
    def __init__(self, allowed: set[str]) -> None:
        self.allowed, self.asked = allowed, []

    def allows(self, texts):
        self.asked.append(list(texts))
        return np.array([t in self.allowed for t in texts])


def test_only_flagged_messages_are_scored_and_only_turned_away_ones_lose_flags():
    decided = np.zeros((4, 10), dtype=bool)
    decided[0, 2] = decided[3, 5] = True  # message 0 and message 2 carry a flag
    decided[1, 7] = decided[2, 8] = True  # strengths only
    gate = _Recorder(allowed={"a"})
    out = gate_flags(gate, ["a", "b", "c"], np.array([0, 0, 1, 2]), decided.copy(), n_flags=6)
    assert gate.asked == [["a", "c"]]  # "b" carries no flag, so it costs no pass
    assert out[0, 2] and not out[3, 5]
    assert out[1, 7] and out[2, 8]
    clean = np.zeros((2, 10), dtype=bool)
    assert not gate_flags(_Recorder(set()), ["x"], np.array([0, 0]), clean, n_flags=6).any()


def test_a_missing_or_tampered_gate_is_refused(tiny_model_dir, tmp_path):
    missing = tmp_path / "missing"
    shutil.copytree(tiny_model_dir, missing, ignore=shutil.ignore_patterns(GATE_FILE))
    with pytest.raises(ModelNotFoundError, match="make model"):
        load_classifier(missing)
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_model_dir, tampered)
    with (tampered / GATE_FILE).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ChecksumError, match=GATE_FILE):
        load_classifier(tampered)


def test_the_gate_also_learns_from_public_writing(record):
    from training.topic_gate import public_texts

    # The tiny build samples half as many public lines as train messages (conftest: 1,200 units).
    assert record["public_texts"] == min(len(public_texts()), record["train_messages"] // 2) > 0
