"""How far blending readers can take the flags: each reader's unit probabilities, alone and blended.

    python -m training.readers --model M [--second-model M2] [--corpus C] [--beta 0.6]

The readers of every unit, each fitted on the train split only:

- ``encoder``: the fine-tuned classifier's own probabilities (before the served blend);
- ``ngram``: the served n-gram layer's recipe (``training.ngram``), fitted afresh;
- ``knn``: the labels of the ``KNN_K`` train units nearest in the fine-tuned embedding, weighted by
  ``exp(cosine / KNN_TEMPERATURE)``: what the encoder has memorised, read without its head;
- ``base``: a logistic regression per label on the *base* encoder's unit embedding (all-MiniLM-L6-v2
  as released, as the topic gate reads it): what the pre-trained model knows before fine-tuning;
- ``encoder_b``: with ``--second-model``, another build's probabilities (another seed, say): the ensemble
  that twice the training and serving time would buy.

Each line printed is one reader or blend: flags macro-F1 on validation and test at per-label thresholds
tuned on validation for F-beta, unit by unit, no topic gate (as ``python -m training.ngram``). The served
blend is ``encoder`` and ``ngram`` at the model's weight; each other reader joins it at weight ``w``
taken from the two in proportion. Also the served pair with the n-gram weight chosen per label on
validation. ``training/EXPERIMENTS.md`` (session 17) reads the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from service.labels import LABELS
from training.dataset import UnitRow, targets

if TYPE_CHECKING:
    from service.classifier import TorchClassifier

SPLITS = ("validation", "test")
KNN_K = 10
KNN_TEMPERATURE = 0.05  # of k 10/30 and temperatures 0.05/0.2, the best on seed 42's validation (session 17)
BASE_C = 4.0  # of 1, 4 and 16, the best alone on seed 42's validation (session 17)
EXTRA_WEIGHTS = (0.1, 0.2, 0.3)
PER_LABEL_GRID = np.round(np.arange(0.0, 0.81, 0.1), 2)

Probabilities = dict[str, np.ndarray]  # split -> (units, labels)


def knn_proba(queries: np.ndarray, keys: np.ndarray, key_targets: np.ndarray, k: int = KNN_K,
              temperature: float = KNN_TEMPERATURE) -> np.ndarray:  # fmt: skip
    """Similarity-weighted mean of the ``k`` nearest keys' targets (rows L2-normalised, so dot = cosine)."""
    k = min(k, len(keys))
    sims = queries @ keys.T
    nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    near = np.take_along_axis(sims, nearest, axis=1)
    weights = np.exp((near - near.max(axis=1, keepdims=True)) / temperature)  # shifted: exp(1 / 0.01) overflows
    weights /= weights.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkl->nl", weights, key_targets[nearest].astype(np.float32))


def logistic_proba(
    train_x: np.ndarray, train_y: np.ndarray, queries: dict[str, np.ndarray], seed: int
) -> Probabilities:
    """One balanced logistic regression per label on dense features (a label absent from train never fires)."""
    from sklearn.linear_model import LogisticRegression

    out = {s: np.zeros((len(x), len(LABELS)), dtype=np.float32) for s, x in queries.items()}
    for j in range(len(LABELS)):
        if train_y[:, j].min() == train_y[:, j].max():
            continue
        model = LogisticRegression(C=BASE_C, max_iter=3000, class_weight="balanced", random_state=seed)
        model.fit(train_x, train_y[:, j])
        for s, x in queries.items():
            out[s][:, j] = model.predict_proba(x)[:, 1]
    return out


def read_units(
    encoder: TorchClassifier, rows: dict[str, list[UnitRow]], second: Path | None, seed: int
) -> dict[str, Probabilities]:
    """Every reader's probabilities on the validation and test units (see the module docstring).

    ``encoder`` is the built model's ``TorchClassifier``; ``rows`` hold the train split and ``SPLITS``.
    """
    from service.classifier import TorchClassifier
    from training.embeddings import embed
    from training.ngram import fitted_proba

    def encoder_pass(classifier: TorchClassifier, split: str) -> tuple[np.ndarray, np.ndarray]:
        return classifier.predict_encoder([r.text for r in rows[split]], [r.context for r in rows[split]])

    passes = {s: encoder_pass(encoder, s) for s in ("train", *SPLITS)}
    train_y = targets(rows["train"])
    readers = {
        "encoder": {s: passes[s][0] for s in SPLITS},
        "knn": {s: knn_proba(passes[s][1], passes["train"][1], train_y) for s in SPLITS},
        "ngram": fitted_proba(rows["train"], {s: rows[s] for s in SPLITS}, seed),
    }
    base = {s: embed([r.text for r in rows[s]]) for s in ("train", *SPLITS)}
    readers["base"] = logistic_proba(base.pop("train"), train_y, base, seed)
    if second is not None:
        other = TorchClassifier(second)
        readers["encoder_b"] = {s: encoder_pass(other, s)[0] for s in SPLITS}
    return readers


def flags_f1(y: dict[str, np.ndarray], proba: Probabilities, beta: float) -> dict[str, float]:
    """Flags macro-F1 per split, at thresholds tuned on the validation split for F-beta."""
    from training.evaluate import label_metrics
    from training.train import TrainConfig, tune_thresholds

    tuned = tune_thresholds(y["validation"], proba["validation"], TrainConfig.threshold_floor, beta)
    cut = np.array([tuned[label] for label in LABELS])
    return {s: round(label_metrics(y[s], proba[s] >= cut)["macro_f1_flags"], 4) for s in SPLITS}


def per_label_weights(y: np.ndarray, encoder: np.ndarray, ngram: np.ndarray, beta: float) -> np.ndarray:
    """Each label's n-gram weight with the best validation F-beta at that label's own best threshold."""
    from training.train import TrainConfig, best_threshold

    best = np.zeros(len(LABELS))
    for j in range(len(LABELS)):
        scores = [
            best_threshold(y[:, j], (1 - w) * encoder[:, j] + w * ngram[:, j], TrainConfig.threshold_floor, beta)[1]
            for w in PER_LABEL_GRID
        ]
        best[j] = PER_LABEL_GRID[int(np.argmax(scores))]
    return best


def compare(
    readers: dict[str, Probabilities], y: dict[str, np.ndarray], served_weight: float, beta: float
) -> list[dict]:
    """The rows printed by ``main``: each reader alone, the served blend, and each extra reader added to it."""
    rows = [{"readers": name, **flags_f1(y, proba, beta)} for name, proba in readers.items()]
    served = {s: (1 - served_weight) * readers["encoder"][s] + served_weight * readers["ngram"][s] for s in SPLITS}
    rows.append({"readers": f"encoder+ngram {served_weight}", **flags_f1(y, served, beta)})
    for name in [n for n in readers if n not in ("encoder", "ngram")]:
        for w in EXTRA_WEIGHTS:
            blend = {s: (1 - w) * served[s] + w * readers[name][s] for s in SPLITS}
            rows.append({"readers": f"encoder+ngram {served_weight} + {name} {w}", **flags_f1(y, blend, beta)})
    if "encoder_b" in readers:  # the two builds as equals: what two encoders in serving would give
        pair = {s: (readers["encoder"][s] + readers["encoder_b"][s]) / 2 for s in SPLITS}
        blend = {s: (1 - served_weight) * pair[s] + served_weight * readers["ngram"][s] for s in SPLITS}
        rows.append({"readers": f"mean(encoder, encoder_b)+ngram {served_weight}", **flags_f1(y, blend, beta)})
    w = per_label_weights(y["validation"], readers["encoder"]["validation"], readers["ngram"]["validation"], beta)
    blend = {s: (1 - w) * readers["encoder"][s] + w * readers["ngram"][s] for s in SPLITS}
    weights = dict(zip(LABELS, w.tolist(), strict=True))
    rows.append({"readers": "encoder+ngram per label", "weights": weights, **flags_f1(y, blend, beta)})
    return rows


def main(argv: list[str] | None = None) -> int:
    from service.classifier import TorchClassifier
    from service.settings import get_settings
    from training.dataset import load_corpus, split_rows
    from training.train import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=get_settings().model_path)
    parser.add_argument("--second-model", type=Path, default=None, help="another build, read as encoder_b")
    parser.add_argument("--beta", type=float, default=0.6, help="thresholds tuned for validation F-beta")
    parser.add_argument("--corpus", type=Path, default=None, help="a corpus built elsewhere (experiments, tests)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the fitted readers")
    args = parser.parse_args(argv)

    encoder = TorchClassifier(args.model)
    examples = load_corpus(args.corpus) if args.corpus else load_corpus()
    rows = {s: split_rows(examples, s, encoder.context_words) for s in ("train", *SPLITS)}
    readers = read_units(encoder, rows, args.second_model, args.seed)
    y = {s: targets(rows[s]) for s in SPLITS}
    served_weight = encoder.ngram.weight if encoder.ngram is not None else TrainConfig.ngram_weight
    for row in compare(readers, y, served_weight, args.beta):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
