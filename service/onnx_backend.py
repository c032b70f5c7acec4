"""The serving backend: the int8 ONNX export run by ONNX Runtime, tokenized by ``tokenizers``.

Imports only onnxruntime, tokenizers and numpy (never torch or transformers), so a serving process
starts in a fraction of a second and stays small. ``python -m training.export`` writes the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
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


class PairCache:
    """The model's outputs for recently read (unit, context) pairs, least recently used out first.

    A browser extension sends the whole draft again at every pause in typing, and only the units
    around the edit are new; the rest are answered from here. Each pair runs alone (see
    :class:`OnnxClassifier`), so a cached row is bit-identical to a fresh one. Keys are BLAKE2b
    digests: the cache holds no message text, only digests and the model's numbers, in memory.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._rows: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(unit: str, context: str) -> bytes:
        raw = f"{unit}\x00{context}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(raw, digest_size=16).digest()

    def get(self, key: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            row = self._rows.get(key)
            if row is None:
                self.misses += 1
                return None
            self._rows.move_to_end(key)
            self.hits += 1
            return row

    def put(self, key: bytes, row: tuple[np.ndarray, np.ndarray]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._rows[key] = row
            self._rows.move_to_end(key)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._rows)


class OnnxClassifier(Classifier):
    """Same predictions as :class:`service.classifier.TorchClassifier`, from the int8 ONNX graph.

    Every (unit, context) pair runs alone, with no padding. Dynamic int8 picks one activation scale
    per tensor, so in a padded batch a unit's scores would shift with whatever shares the batch
    (by up to 0.2 on the test split), and a rewrite checked in one batch could read differently when
    analyzed again in another. Alone, a unit always gets the same scores. Pairs run in parallel on
    ``num_threads`` single-threaded runs of one session, which on this 2-core machine is faster than
    padded batches (``make bench``: 528 against 265 units/s) and leaves no core idle on short inputs.
    """

    backend = "onnx"

    def __init__(
        self, model_dir: str | Path, num_threads: int | None = None, verify: bool = True, cache_size: int = 0
    ) -> None:
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
        self.cache = PairCache(cache_size)

    def predict_encoder(
        self, units: list[str], contexts: list[str], batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and L2-normalised unit vectors; ``batch_size`` is unused (pairs run alone)."""
        if not units:
            return self._empty()
        keys = [PairCache.key(u, c) for u, c in zip(units, contexts, strict=True)] if self.cache.size else []
        rows = [self.cache.get(k) for k in keys] if keys else [None] * len(units)
        todo = [i for i, row in enumerate(rows) if row is None]
        if todo:
            encodings = self.encode([units[i] for i in todo], [contexts[i] for i in todo])
            runs = self._pool.map(self._run, encodings) if self._pool and len(todo) > 1 else map(self._run, encodings)
            for i, (row_logits, row_pooled) in zip(todo, runs, strict=True):
                rows[i] = (row_logits[0], row_pooled[0])
                if keys:
                    self.cache.put(keys[i], rows[i])
        logits, pooled = np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])
        proba = 1.0 / (1.0 + np.exp(-logits))
        vectors = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return proba.astype(np.float32), vectors.astype(np.float32)

    def encode(self, units: list[str], contexts: list[str]) -> list:
        """Token ids of each (unit, context) pair; a unit with no neighbours is one segment.

        Training's batched tokenizer call gives such a unit an empty second segment (``[CLS] unit [SEP]
        [SEP]``). Serving it that way too was measured and left out: it changed no test or real-world
        figure and flipped a hand-checked negative (``training/EXPERIMENTS.md``, session 7).
        """
        # One by one, not encode_batch: a request's few short pairs gain nothing from the tokenizer's
        # thread pool, whose threads only compete with ONNX Runtime's for the cores.
        return [
            self.tokenizer.encode(u, c) if c else self.tokenizer.encode(u) for u, c in zip(units, contexts, strict=True)
        ]

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
