"""The serving backend: the int8 ONNX export run by ONNX Runtime, tokenized by ``tokenizers``.

Imports only onnxruntime, tokenizers and numpy (never torch or transformers), so a serving process
starts in a fraction of a second and stays small. ``python -m training.export`` writes the model.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from service.classifier import MAX_LENGTH, Classifier, ModelNotFoundError, read_metadata


class ChecksumError(RuntimeError):
    """The ONNX file does not match the checksum recorded at export time."""


def onnx_path(model_dir: str | Path, meta: dict | None = None) -> Path | None:
    """The exported file recorded in ``heartfelt.json`` (``meta``, when already read), if it is there."""
    record = (meta if meta is not None else read_metadata(Path(model_dir))).get("onnx")
    path = Path(model_dir) / record["file"] if record else None
    return path if path is not None and path.is_file() else None


class OnnxClassifier(Classifier):
    """Same predictions as :class:`service.classifier.TorchClassifier`, from the int8 ONNX graph."""

    backend = "onnx"

    def __init__(self, model_dir: str | Path, num_threads: int | None = None, verify: bool = True) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        read_metadata(model_dir)  # fail early, with the `make model` hint, before reading anything else
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        labels = tuple(config["id2label"][str(i)] for i in range(len(config["id2label"])))
        meta = self._load_metadata(model_dir, labels)
        path = onnx_path(model_dir, meta)
        if path is None:
            raise ModelNotFoundError(f"no ONNX export in {model_dir}; run `heartfelt export` (part of `make model`)")
        if verify and sha256(path) != meta["onnx"]["sha256"]:
            raise ChecksumError(f"{path.name} does not match the checksum in heartfelt.json; re-run `heartfelt export`")
        self.hidden_size = int(config["hidden_size"])

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_LENGTH, strategy="longest_first")
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id") or 0))
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or 0  # 0: ONNX Runtime picks the physical cores
        options.inter_op_num_threads = 1
        # No busy-waiting between runs: in a server the request threads need those cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def predict(self, units: list[str], contexts: list[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        if not units:
            return self._empty()
        # Batches of similar length waste less compute on padding; results go back in input order.
        order = sorted(range(len(units)), key=lambda i: len(units[i]) + len(contexts[i]))
        proba = np.empty((len(units), len(self.info.labels)), dtype=np.float32)
        vectors = np.empty((len(units), self.hidden_size), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            # An empty context is no second segment at all (as the training tokenizer reads it).
            encodings = self.tokenizer.encode_batch(
                [(units[i], contexts[i]) if contexts[i] else units[i] for i in rows]
            )
            feed = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            logits, pooled = self.session.run(None, feed)
            proba[rows] = 1.0 / (1.0 + np.exp(-logits))
            vectors[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return proba, vectors


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
