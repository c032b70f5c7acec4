"""Find likely label errors in the sentence pools with cross-validated predictions and cleanlab.

    python -m training.label_noise [--folds 5] [--top 150] > label_issues.tsv
    python -m training.label_noise --model models/heartfelt-minilm > label_issues.tsv
    python -m training.label_noise --model models/heartfelt-minilm --top 500 --pools '*_[23].jsonl'

Each pool unit (a sentence, or each clause of a clause-annotated sentence) is embedded with the
base encoder; a one-vs-rest logistic regression gives out-of-fold probabilities for every label;
cleanlab's multi-label ``find_label_issues`` ranks the units whose given labels the cross-validated
model disagrees with most. The list is for a person to review against the label guide.

With ``--model``, the probabilities come from a built (fine-tuned) classifier instead, each unit read
alone. They are out of sample for validation and test units only; on train units the model has seen
the given labels, so a confident disagreement there is all the stronger a hint.
"""

from __future__ import annotations

import argparse
import sys
from fnmatch import fnmatch

import numpy as np

from service.labels import LABELS
from training.data import CORPUS_PATH
from training.data.build import previous_splits
from training.data.pools import dedupe, load_pools, normalise


def pool_units() -> list[tuple[str, str, tuple[str, ...]]]:
    """(origin, text, labels) for every unit of the deduplicated pools."""
    units = []
    for s in dedupe(load_pools())[0]:
        parts = [(c.text, c.labels) for c in s.clauses] if s.clauses else [(s.text, s.labels)]
        units.extend((s.origin, text, labels) for text, labels in parts)
    return units


def out_of_fold_probabilities(x: np.ndarray, y: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold

    proba = np.zeros_like(y, dtype=np.float64)
    for train_idx, test_idx in KFold(folds, shuffle=True, random_state=seed).split(x):
        for j in range(y.shape[1]):
            clf = LogisticRegression(C=4.0, max_iter=2000)
            clf.fit(x[train_idx], y[train_idx, j])
            proba[test_idx, j] = clf.predict_proba(x[test_idx])[:, 1]
    return proba


def model_probabilities(model: str, texts: list[str]) -> np.ndarray:
    from service.loader import load_classifier

    return load_classifier(model).predict_proba(texts, [""] * len(texts))


def find_issues(folds: int = 5, top: int = 150, model: str | None = None, pools: str = "*") -> list[dict]:
    """The ``top`` most doubtful units, ranked over every pool; ``pools`` (a file-name pattern) keeps
    only those from matching files, e.g. the files of one authoring round."""
    from cleanlab.multilabel_classification.filter import find_label_issues

    units = pool_units()
    texts = [text for _, text, _ in units]
    y = np.array([[label in labels for label in LABELS] for _, _, labels in units], dtype=np.int64)
    if model:
        proba = model_probabilities(model, texts)
    else:
        from training.embeddings import embed

        proba = out_of_fold_probabilities(embed(texts), y, folds)
    given = [[LABELS.index(label) for label in labels] for _, _, labels in units]
    ranked = find_label_issues(given, proba, return_indices_ranked_by="self_confidence")
    split_of = previous_splits(CORPUS_PATH)  # so a reviewer knows whether a fix touches train, validation or test
    issues = []
    for i in ranked[:top]:
        origin, text, labels = units[i]
        if not fnmatch(origin.split(":")[0], pools):
            continue
        suggested = [label for j, label in enumerate(LABELS) if proba[i, j] >= 0.5]
        split = split_of.get(normalise(text), "?")
        issues.append({"origin": origin, "split": split, "text": text, "given": list(labels), "model": suggested})
    return issues


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--top", type=int, default=150)
    parser.add_argument("--model", help="a built classifier's probabilities instead of the cross-validated probe")
    parser.add_argument("--pools", default="*", help="list only units of pool files matching this pattern")
    args = parser.parse_args(argv)
    issues = find_issues(args.folds, args.top, args.model, args.pools)
    print("origin\tsplit\tgiven\tmodel\ttext")
    for issue in issues:
        given, model = ",".join(issue["given"]) or "-", ",".join(issue["model"]) or "-"
        print(f"{issue['origin']}\t{issue['split']}\t{given}\t{model}\t{issue['text']}")
    print(f"{len(issues)} units to review", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
