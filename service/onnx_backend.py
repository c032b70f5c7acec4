"""The serving backend: the int8 ONNX export run by ONNX Runtime, tokenized by ``tokenizers``.

Imports only onnxruntime, tokenizers and numpy (never torch or transformers), so a serving process
starts in a fraction of a second and stays small. ``python -m training.export`` writes the model.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
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
    """Same predictions as :class:`service.classifier.TorchClassifier`, from the int8 ONNX graph.

    Every (unit, context) pair runs alone, with no padding. Dynamic int8 picks one activation scale
    per tensor, so in a padded batch a unit's scores would shift with whatever shares the batch
    (by up to 0.2 on the test split), and a rewrite checked in one batch could read differently when
    analyzed again in another. Alone, a unit always gets the same scores. Pairs run in parallel on
    ``num_threads`` single-threaded runs of one session, which on this 2-core machine is faster than
    padded batches (``make bench``: 276 against 116 units/s) and leaves no core idle on short inputs.
    """

    backend = "onnx"

    def __init__(self, model_dir: str | Path, num_threads: int | None = None, verify: bool = True) -> None:
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        read_metadata(model_dir)  # fail early, with the `make model` hint, before reading anything else
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        labels = tuple(config["id2label"][str(i)] for i in range(len(config["id2label"])))
        meta = self._load_metadata(model_dir, labels, verify)
        path = onnx_path(model_dir, meta)
        if path is None:
            raise ModelNotFoundError(f"no ONNX export in {model_dir}; run `heartfelt export` (part of `make model`)")
        if verify and sha256(path) != meta["onnx"]["sha256"]:
            raise ChecksumError(f"{path.name} does not match the checksum in heartfelt.json; re-run `heartfelt export`")
        self.hidden_size = int(config["hidden_size"])

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_LENGTH, strategy="longest_first")
        self.tokenizer.no_padding()
        self.session = session(path)  # one thread: parallelism comes from concurrent runs (class docstring)
        self.workers = num_threads or _usable_cpus()
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="heartfelt-onnx") if self.workers > 1 else None

    def predict(self, units: list[str], contexts: list[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and L2-normalised unit vectors; ``batch_size`` is unused (pairs run alone)."""
        if not units:
            return self._empty()
        # An empty context is no second segment at all (as the training tokenizer reads it).
        encodings = self.tokenizer.encode_batch([(u, c) if c else u for u, c in zip(units, contexts, strict=True)])
        runs = self._pool.map(self._run, encodings) if self._pool and len(encodings) > 1 else map(self._run, encodings)
        logits, pooled = (np.concatenate(x) for x in zip(*runs, strict=True))
        proba = 1.0 / (1.0 + np.exp(-logits))
        vectors = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return proba.astype(np.float32), vectors.astype(np.float32)

    def _run(self, encoding) -> list[np.ndarray]:
        return self.session.run(None, feed(encoding))


def session(path: Path, threads: int = 1):
    """An ONNX Runtime CPU session for one sequence per run, on ``threads`` threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No busy-waiting between runs: in a server the request threads need those cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def feed(encoding) -> dict[str, np.ndarray]:
    """The inputs of one tokenized sequence (batch of one, no padding)."""
    return {
        "input_ids": np.array([encoding.ids], dtype=np.int64),
        "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
    }


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS reports one, as in a container)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
