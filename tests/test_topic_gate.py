"""The topic gate: the base encoder judges whole messages, and a flag needs the message to pass it."""

import json
import shutil

import numpy as np
import pytest

from service.analyzer import Analyzer
from service.classifier import METADATA_FILE, ModelNotFoundError
from service.loader import load_classifier
from service.onnx_backend import ChecksumError, sha256
from service.topic_gate import GATE_FILE, TopicGate, gate_flags, strongest_flags
from training.topic_gate import CONFIDENCE_WEIGHT

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
    assert record["validation_messages"] > 0
    assert record.get("confidence_weight", 0.0) == CONFIDENCE_WEIGHT  # the build weighs the classifier's confidence


def test_an_apology_reads_as_conflict_and_everyday_text_does_not(tiny_model_dir, record):
    gate = TopicGate(tiny_model_dir, record)
    apology, everyday = gate.scores([APOLOGY, EVERYDAY])
    assert apology > everyday
    # a flagged apology reaches the gate with the classifier's confidence in its strongest flag
    sure = np.full(1, 0.95) if gate.confidence_weight else None
    assert gate.allows([APOLOGY], sure).all()
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
        self.allowed, self.asked, self.confidence = allowed, [], []

    def allows(self, texts, confidence=None):
        self.asked.append(list(texts))
        self.confidence.append(confidence)
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


def test_a_sure_flag_needs_less_topical_evidence_than_a_borderline_one(tiny_model_dir, record):
    gate = TopicGate(tiny_model_dir, {**record, "threshold": 0.4, "confidence_weight": 0.5})
    scores = np.array([0.3, 0.3, 0.45])
    # log-odds: -0.85 + 0.5 * 6.9 passes -0.41; -0.85 + 0.5 * 0 does not; -0.2 + 0 does.
    assert gate.passes(scores, np.array([0.999, 0.5, 0.5])).tolist() == [True, False, True]
    assert gate.passes(scores, np.array([1.0, 0.2, 0.2])).tolist() == [True, False, True]  # clipped to [0.5, 0.999]
    with pytest.raises(ValueError, match="confidence"):
        gate.allows([APOLOGY])  # a confidence-weighted gate cannot judge without the classifier's side
    plain = TopicGate(tiny_model_dir, {**record, "threshold": 0.4, "confidence_weight": 0.0})
    assert plain.passes(scores, np.array([0.999, 0.5, 0.5])).tolist() == [False, False, True]
    assert plain.allows([APOLOGY]).tolist() == (plain.scores([APOLOGY]) >= 0.4).tolist()


def test_the_gate_is_told_the_strongest_decided_flag_of_each_message():
    proba = np.full((4, 10), 0.1, dtype=np.float32)
    decided = np.zeros((4, 10), dtype=bool)
    proba[0, 2], decided[0, 2] = 0.7, True
    proba[1, 4], decided[1, 4] = 0.9, True  # same message as row 0: its strongest flag is 0.9
    proba[2, 3] = 0.95  # over nothing: not decided, so it does not count
    proba[3, 8], decided[3, 8] = 0.99, True  # a strength, not a flag
    proba[3, 1], decided[3, 1] = 0.6, True
    rows = np.array([0, 0, 1, 2])
    np.testing.assert_allclose(strongest_flags(proba, decided, rows, 3, 6), [0.9, 0.0, 0.6], rtol=1e-6)
    gate = _Recorder(allowed={"a", "c"})
    gate_flags(gate, ["a", "b", "c"], rows, decided, n_flags=6, proba=proba)
    assert gate.asked == [["a", "c"]]
    np.testing.assert_allclose(gate.confidence[0], [0.9, 0.6], rtol=1e-6)
