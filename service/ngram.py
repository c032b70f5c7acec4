"""The n-gram layer: a bag-of-n-grams logistic model whose probabilities are blended with the encoder's.

The fine-tuned encoder reads a unit in context and generalises by meaning; a linear model over the
unit's own word and character n-grams is a different kind of reader, and averaging the two beats
either alone (``training/EXPERIMENTS.md``, session 16). The blend is ``(1 - w) * p_encoder + w *
p_ngram`` per label, with ``w`` recorded in ``heartfelt.json``; thresholds and the topic gate are
tuned on the blended probabilities.

The build fits the vocabulary, idf and weights with scikit-learn (``training.ngram``). Serving
recomputes the same TF-IDF features here with numpy, so the server imports neither scikit-learn nor
SciPy: importing them took 1.0 s and 119 MB of resident memory here (session 16), against start-up
and memory targets of 2 s and 300 MB. ``tests/test_ngram.py`` checks the two agree on the corpus.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

NGRAM_FILE = "ngram.npz"
# scikit-learn's defaults, which the build uses: its word pattern, and runs of whitespace as one space
_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SPACES = re.compile(r"\s\s+")


def word_ngrams(text: str, low: int, high: int) -> list[str]:
    """Word n-grams as ``TfidfVectorizer(analyzer="word")`` makes them: lowercased 2+ character tokens."""
    tokens = _TOKEN.findall(text.lower())
    return [" ".join(tokens[i : i + n]) for n in range(low, high + 1) for i in range(len(tokens) - n + 1)]


def char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    """Character n-grams inside word boundaries, as ``analyzer="char_wb"``: each word padded with a space
    on both sides; a word shorter than ``n`` counts once, whole."""
    out = []
    for word in _SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) <= n:
                out.append(padded)
                break
            out.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return out


class NgramLayer:
    """Scores units with the TF-IDF features and logistic weights saved in ``ngram.npz``."""

    def __init__(self, model_dir: str | Path, record: dict, verify: bool = True) -> None:
        from service.classifier import ModelNotFoundError
        from service.onnx_backend import ChecksumError, sha256

        path = Path(model_dir) / record["file"]
        if not path.is_file():
            raise ModelNotFoundError(f"the n-gram layer {path.name} is missing from {model_dir}; run `make model`")
        if verify and sha256(path) != record["sha256"]:
            raise ChecksumError(f"{path.name} does not match the checksum in heartfelt.json; rebuild with `make model`")
        self.weight = float(record["weight"])
        with np.load(path, allow_pickle=False) as saved:
            self.coef = saved["coef"].astype(np.float32)  # (features, labels)
            self.intercept = saved["intercept"].astype(np.float32)
            parts = [("word", word_ngrams, record["word_ngrams"]), ("char", char_wb_ngrams, record["char_ngrams"])]
            self.parts, offset = [], 0
            for name, analyzer, (low, high) in parts:
                terms = saved[f"{name}_terms"].tolist()
                self.parts.append((analyzer, int(low), int(high), {term: offset + i for i, term in enumerate(terms)}))
                offset += len(terms)
            # one idf per column, in the same order as the weights' rows
            self.idf = np.concatenate([saved[f"{name}_idf"] for name, _, _ in parts]).astype(np.float32)
        if not offset == len(self.idf) == self.coef.shape[0]:
            counts = f"{offset} terms, {len(self.idf)} idf values, {self.coef.shape[0]} weight rows"
            raise ValueError(f"{path.name}: {counts}")

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and values of ``text``'s row: per part, sublinear tf times idf, L2-normalised."""
        indices, values = [], []
        for analyzer, low, high, vocab in self.parts:
            counts: dict[int, int] = {}
            for gram in analyzer(text, low, high):
                col = vocab.get(gram)
                if col is not None:
                    counts[col] = counts.get(col, 0) + 1
            if not counts:
                continue
            cols = np.fromiter(counts, dtype=np.int64, count=len(counts))
            tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
            weighted = tf * self.idf[cols]
            indices.append(cols)
            values.append(weighted / np.linalg.norm(weighted))
        if not indices:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(indices), np.concatenate(values)

    def proba(self, units: list[str]) -> np.ndarray:
        """The n-gram model's own probabilities, shape ``(len(units), labels)``."""
        logits = np.empty((len(units), self.coef.shape[1]), dtype=np.float32)
        for i, text in enumerate(units):
            cols, vals = self.features(text)
            logits[i] = vals @ self.coef[cols] + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    def blend(self, encoder_proba: np.ndarray, units: list[str]) -> np.ndarray:
        """``(1 - w) * encoder_proba + w * proba(units)``: the probabilities every decision reads."""
        return ((1.0 - self.weight) * encoder_proba + self.weight * self.proba(units)).astype(np.float32)
