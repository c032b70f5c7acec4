"""Load the fine-tuned classifier and score (unit, context) pairs.

The model directory is what ``heartfelt train`` writes: ``save_pretrained`` weights and tokenizer,
plus ``heartfelt.json`` with the per-label decision thresholds tuned on the validation split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from service.labels import LABELS
from service.ngram import NgramLayer
from service.segmenter import CONTEXT_WORDS
from service.topic_gate import TopicGate

METADATA_FILE = "heartfelt.json"
MAX_LENGTH = 128  # tokens of unit + neighbours; units are sentences, so this is rarely reached


class ModelNotFoundError(FileNotFoundError):
    """The model directory is missing or incomplete (build it with ``make model``)."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    labels: tuple[str, ...]
    thresholds: dict[str, float]


def read_metadata(model_dir: Path) -> dict:
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"no trained model at {model_dir} (missing {METADATA_FILE}); run `make model`")
    return json.loads(path.read_text(encoding="utf-8"))


class Classifier:
    """What every backend shares: metadata, thresholds, the topic gate and the decision rule.

    A backend implements :meth:`predict_encoder`; this base class holds nothing that needs torch, so the
    ONNX backend can serve without importing it.
    """

    info: ModelInfo
    hidden_size: int
    backend: str = "base"
    topic_gate: TopicGate | None = None
    ngram: NgramLayer | None = None
    context_words: int = CONTEXT_WORDS  # neighbour words each unit is read with (0: alone), as trained

    def _load_metadata(self, model_dir: Path, labels: tuple[str, ...], verify: bool = True) -> dict:
        meta = read_metadata(model_dir)
        if labels != LABELS:
            raise ValueError(f"model labels {labels} do not match Heartfelt's labels {LABELS}")
        self.info = ModelInfo(name=meta["name"], version=meta["version"], labels=labels, thresholds={})
        self.use_thresholds(meta["thresholds"])
        self.context_words = int(meta.get("context_words", CONTEXT_WORDS))  # models built before it was a setting
        record = meta.get("topic_gate")
        self.topic_gate = TopicGate(model_dir, record, verify=verify) if record else None
        record = meta.get("ngram")  # models built before session 16 have none
        self.ngram = NgramLayer(model_dir, record, verify=verify) if record else None
        return meta

    def use_thresholds(self, thresholds: dict[str, float]) -> None:
        """Decide with these per-label thresholds from now on (``info`` reports them too)."""
        self.info = replace(self.info, thresholds={label: float(thresholds[label]) for label in self.info.labels})
        self.threshold_vector = np.array([self.info.thresholds[label] for label in self.info.labels], dtype=np.float32)

    def predict(self, units: list[str], contexts: list[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities ``(n, len(LABELS))`` and L2-normalised unit embeddings from the same pass.

        The probabilities are the encoder's blended with the n-gram layer's, when the model has one.
        """
        proba, vectors = self.predict_encoder(units, contexts, batch_size)
        if self.ngram is not None and units:
            proba = self.ngram.blend(proba, units)
        return proba, vectors

    def predict_encoder(
        self, units: list[str], contexts: list[str], batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's own probabilities and embeddings, before any blend (each backend's pass)."""
        raise NotImplementedError

    def predict_proba(self, units: list[str], contexts: list[str], batch_size: int = 64) -> np.ndarray:
        """Sigmoid probabilities, shape ``(len(units), len(LABELS))``: the first half of :meth:`predict`."""
        return self.predict(units, contexts, batch_size)[0]

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Label decisions: each label's probability against its tuned threshold.

        Flags are further checked per message by the topic gate (``service.topic_gate``), which the
        analyzer applies: it needs the whole message, not one unit.
        """
        return proba >= self.threshold_vector

    def _empty(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((0, len(LABELS)), dtype=np.float32), np.zeros((0, self.hidden_size), dtype=np.float32)


class TorchClassifier(Classifier):
    """Multi-label classifier over :data:`service.labels.LABELS`, run with torch on the CPU."""

    backend = "torch"

    def __init__(self, model_dir: str | Path, num_threads: int | None = None) -> None:
        import torch
        from transformers import AutoTokenizer

        from service.modeling import HeartfeltClassifier

        model_dir = Path(model_dir)
        read_metadata(model_dir)  # fail early, with the `make model` hint, before loading weights
        if num_threads:
            torch.set_num_threads(num_threads)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = HeartfeltClassifier.from_pretrained(model_dir).eval()
        labels = tuple(self.model.config.id2label[i] for i in range(self.model.config.num_labels))
        self._load_metadata(model_dir, labels)
        self.hidden_size = int(self.model.config.hidden_size)

    def predict_encoder(
        self, units: list[str], contexts: list[str], batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and L2-normalised unit embeddings (the pooled vectors) from the same pass."""
        if not units:
            return self._empty()
        # Batches of similar length: far less padding, so evaluating a split takes about half as long.
        # Padding is masked out, so a pair's scores do not depend on its batch (fp32).
        order = sorted(range(len(units)), key=lambda i: len(units[i]) + len(contexts[i]))
        probas, vectors = [], []
        with self._torch.inference_mode():
            for i in range(0, len(order), batch_size):
                rows = order[i : i + batch_size]
                enc = tokenize(
                    self.tokenizer,
                    [units[k] for k in rows],
                    [contexts[k] for k in rows],
                    self.context_words,
                    padding=True,
                    return_tensors="pt",
                )
                logits = self.model(**enc).logits
                probas.append(self._torch.sigmoid(logits).numpy())
                vectors.append(self._torch.nn.functional.normalize(self.model.last_pooled, dim=-1).numpy())
        back = np.argsort(np.array(order))
        return np.concatenate(probas)[back].astype(np.float32), np.concatenate(vectors)[back].astype(np.float32)


def tokenize(tokenizer, units: list[str], contexts: list[str], context_words: int, **kwargs):
    """A transformers tokenizer call over (unit, context) pairs, truncated to :data:`MAX_LENGTH`.

    A model that reads neighbours (``context_words > 0``) always gets a pair, so a unit with no
    neighbours reads ``[CLS] unit [SEP] [SEP]``, the same whatever else is in the batch; a model that
    reads units alone gets ``[CLS] unit [SEP]``. The ONNX backend serves a unit with no neighbours as
    one segment (:meth:`service.onnx_backend.OnnxClassifier.encode` says why).
    """
    pair = [contexts] if context_words > 0 else []
    return tokenizer(units, *pair, truncation="longest_first", max_length=MAX_LENGTH, **kwargs)
