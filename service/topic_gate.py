"""The topic gate: does a whole message read as written to someone the writer hurt or is at odds with?

A flag needs two things: the fine-tuned classifier's probability over its threshold, and the message
passing this gate. The gate is a logistic regression on the *base* encoder's sentence embedding of
the whole message (all-MiniLM-L6-v2 as released, int8 ONNX, mean-pooled). Fine-tuning narrows the
classifier's own embeddings to the ten labels, so a sports argument or a forum retort that shares a
pattern's tone looks like conflict there; the base encoder, trained on a billion sentence pairs from
the web, still tells what a message is about. Measured in ``training/EXPERIMENTS.md`` (topic gate).

The gate runs only for messages that already carry a flag, so clean text pays nothing for it. A
record with a ``confidence_weight`` w also weighs how sure the classifier is of the message's
strongest flag: the message passes when ``logit(gate score) + w * logit(clip(p_max))`` reaches
``logit(threshold)``. Builds weigh it at 0.75 (``training.topic_gate.CONFIDENCE_WEIGHT``; 0.5 until session 21): on two
training seeds it cut the real comments flagged by about 2 points (``training/EXPERIMENTS.md``,
session 13). Imports onnxruntime, tokenizers and numpy only, like the ONNX backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # of the whole message; a longer one is judged by its first 256 word pieces
CONFIDENCE_CLIP = (0.5, 0.999)  # p_max is clipped before its logit: past 0.999 certainty adds nothing more
GATE_FILE = "topic.int8.onnx"


class TopicGate:
    """Scores messages with the base encoder and a logistic layer, both recorded in ``heartfelt.json``."""

    def __init__(self, model_dir: str | Path, record: dict, verify: bool = True, threads: int = 1) -> None:
        from tokenizers import Tokenizer

        from service.classifier import ModelNotFoundError
        from service.onnx_backend import ChecksumError, session, sha256

        model_dir = Path(model_dir)
        path = model_dir / record["file"]
        if not path.is_file():
            raise ModelNotFoundError(f"the topic gate {path.name} is missing from {model_dir}; run `make model`")
        if verify and sha256(path) != record["sha256"]:
            raise ChecksumError(f"{path.name} does not match the checksum in heartfelt.json; rebuild with `make model`")
        self.use_layer(record)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.session = session(path, threads)  # serving: 1 thread; concurrent requests use the rest

    def use_layer(self, record: dict) -> None:
        """Score with the logistic layer in ``record`` (none yet while the build is fitting it)."""
        self.weights = np.asarray(record.get("weights", []), dtype=np.float32)
        self.bias = float(record.get("bias", 0.0))
        self.threshold = float(record.get("threshold", 0.0))
        self.confidence_weight = float(record.get("confidence_weight", 0.0))

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised mean-pooled base-encoder embeddings, one message per run (no padding, so a
        message's int8 activations never depend on what else is being scored)."""
        from service.onnx_backend import feed  # not at the top: that module imports this one's importer

        if not texts:
            return np.zeros((0, len(self.weights)), dtype=np.float32)
        out = []
        for text in texts:  # encode, not encode_batch: no tokenizer threads competing with the runs
            vec = self.session.run(None, feed(self.tokenizer.encode(text)))[0][0]
            out.append(vec / max(float(np.linalg.norm(vec)), 1e-12))
        return np.array(out, dtype=np.float32).reshape(len(texts), -1)

    def scores(self, texts: list[str]) -> np.ndarray:
        """Probability that each message belongs with apologies and conflicts rather than everyday text."""
        return self.score_vectors(self.embed(texts))

    def score_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """:meth:`scores` for messages already embedded."""
        return (1.0 / (1.0 + np.exp(-(vectors @ self.weights + self.bias)))).astype(np.float32)

    def allows(self, texts: list[str], confidence: np.ndarray | None = None) -> np.ndarray:
        """Which messages may carry flags; ``confidence`` is each one's strongest flag probability."""
        return self.passes(self.scores(texts), confidence)

    def passes(self, scores: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
        """The rule of :meth:`allows` on gate scores already computed."""
        if not self.confidence_weight:
            return scores >= self.threshold
        if confidence is None:
            raise ValueError("this gate weighs the classifier's confidence: pass each message's strongest flag")
        return combined(scores, confidence, self.confidence_weight) >= logit(self.threshold)


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def combined(scores: np.ndarray, confidence: np.ndarray, weight: float) -> np.ndarray:
    """The gate's evidence plus the classifier's, both as log-odds (see the module docstring)."""
    return logit(scores) + weight * logit(np.clip(confidence, *CONFIDENCE_CLIP))


def strongest_flags(proba: np.ndarray, decided: np.ndarray, message_of_row: np.ndarray, n_messages: int,
                    n_flags: int) -> np.ndarray:  # fmt: skip
    """Each message's highest probability among its decided flags (0 where it has none)."""
    out = np.zeros(n_messages, dtype=np.float64)
    if len(decided):
        np.maximum.at(out, message_of_row, np.where(decided[:, :n_flags], proba[:, :n_flags], 0.0).max(axis=1))
    return out


def gate_flags(gate: TopicGate | None, texts: list[str], message_of_row: np.ndarray, decided: np.ndarray,
               n_flags: int, proba: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Clear the flag columns of every row whose message the gate turns away (``decided`` in place).

    Only messages with at least one flag are scored, so clean text costs no extra pass. ``proba``
    (the rows' probabilities) lets the gate weigh the classifier's confidence.
    """
    closed = gate_closed(gate, texts, message_of_row, decided, n_flags, proba)
    if closed:
        decided[np.isin(message_of_row, closed), :n_flags] = False
    return decided


def gate_closed(gate: TopicGate | None, texts: list[str], message_of_row: np.ndarray, decided: np.ndarray,
                n_flags: int, proba: np.ndarray | None = None) -> list[int]:  # fmt: skip
    """The messages (indices into ``texts``) that carry a flag and that the gate turns away."""
    if gate is None or not len(decided):
        return []
    flagged_rows = decided[:, :n_flags].any(axis=1)
    candidates = sorted({int(k) for k in message_of_row[flagged_rows]})
    if not candidates:
        return []
    confidence = None
    if proba is not None:
        confidence = strongest_flags(proba, decided, message_of_row, len(texts), n_flags)[candidates]
    allowed = gate.allows([texts[k] for k in candidates], confidence)
    return [k for k, ok in zip(candidates, allowed, strict=True) if not ok]
