"""Fit the n-gram layer (``service.ngram``) on the train split's units and save it beside the weights.

Word 1-3 grams and in-word character 2-5 grams of each unit alone (its neighbours added nothing
measurable), TF-IDF weighted, and one logistic regression per label with balanced class weights.
About 5-7 s on 13,068 units here (`ngram_seconds` in `metrics.json`; `training/EXPERIMENTS.md`, session 16).

    python -m training.ngram [--model M] [--weights 0,0.2,0.4,0.6,1] [--beta 0.6]

measures the blend at several weights on a built model's encoder: per label, thresholds tuned on
validation for F-beta, then unit-level macro-F1 over the flags on validation and test (no topic gate).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from service.labels import LABELS
from service.ngram import NGRAM_FILE
from service.onnx_backend import sha256
from training.dataset import UnitRow, targets

WORD_NGRAMS = (1, 3)
CHAR_NGRAMS = (2, 5)
MIN_DF = {"word": 2, "char": 3}  # a term in fewer train units is noise to a linear model
NGRAM_C = 8.0  # inverse L2 strength; 2 and 32 scored within 0.005 of it (session 16)


def fit_ngram(model_dir: str | Path, rows: list[UnitRow], weight: float, seed: int = 42) -> dict:
    """Fit on ``rows``, write ``ngram.npz`` into ``model_dir`` and return its ``heartfelt.json`` record."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [r.text for r in rows]
    vectorizers = {
        "word": TfidfVectorizer(ngram_range=WORD_NGRAMS, min_df=MIN_DF["word"], sublinear_tf=True),
        "char": TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, min_df=MIN_DF["char"], sublinear_tf=True),
    }
    x = hstack([v.fit_transform(texts) for v in vectorizers.values()]).tocsr()
    y = targets(rows)
    coef = np.zeros((x.shape[1], len(LABELS)), dtype=np.float32)
    intercept = np.zeros(len(LABELS), dtype=np.float32)
    for j in range(len(LABELS)):
        if y[:, j].min() == y[:, j].max():  # a tiny subsample may lack a label: it never fires
            intercept[j] = -10.0 if y[0, j] == 0 else 10.0
            continue
        model = LogisticRegression(C=NGRAM_C, max_iter=3000, class_weight="balanced", random_state=seed)
        model.fit(x, y[:, j])
        coef[:, j], intercept[j] = model.coef_[0], model.intercept_[0]

    arrays = {"coef": coef, "intercept": intercept}
    for name, v in vectorizers.items():
        arrays[f"{name}_terms"] = np.array(sorted(v.vocabulary_, key=v.vocabulary_.get))
        arrays[f"{name}_idf"] = v.idf_.astype(np.float32)
    path = Path(model_dir) / NGRAM_FILE
    with path.open("wb") as fh:  # a file object: np.savez would append .npz to a str path
        np.savez_compressed(fh, **arrays)
    return {
        "file": NGRAM_FILE,
        "sha256": sha256(path),
        "weight": weight,
        "word_ngrams": list(WORD_NGRAMS),
        "char_ngrams": list(CHAR_NGRAMS),
        "terms": int(x.shape[1]),
    }


def fitted_proba(train: list[UnitRow], splits: dict[str, list[UnitRow]], seed: int = 42) -> dict[str, np.ndarray]:
    """Fit the layer on ``train`` in a scratch directory and score each split's units with it."""
    from service.ngram import NgramLayer

    with tempfile.TemporaryDirectory() as scratch:
        layer = NgramLayer(scratch, fit_ngram(scratch, train, weight=0.0, seed=seed))
        return {name: layer.proba([r.text for r in rows]) for name, rows in splits.items()}


def compare_weights(model_dir: Path, weights: list[float], beta: float, corpus: Path | None = None) -> list[dict]:
    """Unit-level flags macro-F1 of the blend at each weight, the encoder's probabilities read once."""
    from service.classifier import TorchClassifier
    from training.dataset import load_corpus, split_rows
    from training.evaluate import label_metrics
    from training.train import TrainConfig, tune_thresholds

    encoder = TorchClassifier(model_dir)
    examples = load_corpus(corpus) if corpus else load_corpus()
    rows = {s: split_rows(examples, s, encoder.context_words) for s in ("train", "validation", "test")}
    own = fitted_proba(rows["train"], {s: rows[s] for s in ("validation", "test")})
    base = {s: encoder.predict_encoder([r.text for r in rows[s]], [r.context for r in rows[s]])[0] for s in own}
    y = {s: targets(rows[s]) for s in own}
    results = []
    for w in weights:
        blend = {s: (1 - w) * base[s] + w * own[s] for s in own}
        thresholds = tune_thresholds(y["validation"], blend["validation"], TrainConfig.threshold_floor, beta)
        cut = np.array([thresholds[label] for label in LABELS])
        scores = {s: label_metrics(y[s], blend[s] >= cut)["macro_f1_flags"] for s in own}
        results.append({"weight": w, "validation": round(scores["validation"], 4), "test": round(scores["test"], 4)})
    return results


def main(argv: list[str] | None = None) -> int:
    import json

    from service.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=get_settings().model_path)
    parser.add_argument("--weights", default="0,0.2,0.3,0.4,0.5,0.6,1", help="comma-separated blend weights")
    parser.add_argument("--beta", type=float, default=0.6, help="thresholds tuned for validation F-beta")
    parser.add_argument("--corpus", type=Path, default=None, help="a corpus built elsewhere (experiments)")
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",")]
    for row in compare_weights(args.model, weights, args.beta, args.corpus):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
