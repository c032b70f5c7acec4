"""Load the fine-tuned classifier and score (unit, context) pairs.

The model directory is what ``heartfelt train`` writes: ``save_pretrained`` weights and tokenizer,
plus ``heartfelt.json`` with the per-label decision thresholds tuned on the validation split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.labels import LABELS

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


class TorchClassifier:
    """Multi-label classifier over :data:`service.labels.LABELS`, run with torch on the CPU."""

    def __init__(self, model_dir: str | Path, num_threads: int | None = None) -> None:
        import torch
        from transformers import AutoTokenizer

        from service.modeling import HeartfeltClassifier

        model_dir = Path(model_dir)
        meta = read_metadata(model_dir)
        if num_threads:
            torch.set_num_threads(num_threads)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = HeartfeltClassifier.from_pretrained(model_dir).eval()
        labels = tuple(self.model.config.id2label[i] for i in range(self.model.config.num_labels))
        if labels != LABELS:
            raise ValueError(f"model labels {labels} do not match Heartfelt's labels {LABELS}")
        self.info = ModelInfo(
            name=meta["name"],
            version=meta["version"],
            labels=labels,
            thresholds={label: float(meta["thresholds"][label]) for label in labels},
        )
        self.threshold_vector = np.array([self.info.thresholds[label] for label in labels], dtype=np.float32)

    def predict_proba(self, units: list[str], contexts: list[str], batch_size: int = 64) -> np.ndarray:
        """Sigmoid probabilities, shape ``(len(units), len(LABELS))``; one forward pass per batch."""
        if not units:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        out = []
        with self._torch.inference_mode():
            for i in range(0, len(units), batch_size):
                enc = self.tokenizer(
                    units[i : i + batch_size],
                    contexts[i : i + batch_size],
                    truncation="longest_first",
                    max_length=MAX_LENGTH,
                    padding=True,
                    return_tensors="pt",
                )
                logits = self.model(**enc).logits
                out.append(self._torch.sigmoid(logits).numpy())
        return np.concatenate(out).astype(np.float32)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Boolean label decisions from probabilities and the tuned thresholds."""
        return proba >= self.threshold_vector
