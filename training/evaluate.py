"""Measure a built model: per-label quality on a corpus split and the false-flag rate on real text.

python -m training.evaluate [--model models/heartfelt-minilm] [--split test] [--backend auto|onnx|torch]
                            [--realworld ../shared/data/realworld_clean_dev.tsv] [--show-flagged]
python -m training.evaluate --compare-backends     (int8 ONNX against fp32 torch, decision by decision)
python -m training.evaluate --beta 0.5             (thresholds re-tuned on validation for F-beta, in memory)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from service.analyzer import Analyzer, mask_placeholders
from service.labels import FLAG_LABELS, LABELS, STRENGTH_LABELS
from service.topic_gate import gate_flags
from training.data import CORPUS_PATH
from training.dataset import UnitRow, load_corpus, message_index, split_rows, targets

REALWORLD_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "realworld_clean_dev.tsv"


def predict_rows(classifier, rows: list[UnitRow]) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and unit embeddings for corpus rows, in one batched pass."""
    return classifier.predict([r.text for r in rows], [r.context for r in rows])


def label_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    per_label = {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
        for i, label in enumerate(LABELS)
    }
    return {
        "per_label": per_label,
        "macro_f1_flags": float(np.mean([per_label[x]["f1"] for x in FLAG_LABELS])),
        "macro_f1_strengths": float(np.mean([per_label[x]["f1"] for x in STRENGTH_LABELS])),
    }


def clean_message_flag_rate(rows: list[UnitRow], y_pred: np.ndarray) -> tuple[float, int]:
    """Share of messages with no gold flag in which the model flags at least one unit."""
    flag_cols = [LABELS.index(x) for x in FLAG_LABELS]
    gold_flagged: dict[str, bool] = {}
    pred_flagged: dict[str, bool] = {}
    for row, pred in zip(rows, y_pred, strict=True):
        gold_flagged[row.example_id] = gold_flagged.get(row.example_id, False) or any(
            x in FLAG_LABELS for x in row.labels
        )
        pred_flagged[row.example_id] = pred_flagged.get(row.example_id, False) or bool(pred[flag_cols].any())
    clean = [eid for eid, flagged in gold_flagged.items() if not flagged]
    rate = sum(pred_flagged[eid] for eid in clean) / max(len(clean), 1)
    return rate, len(clean)


def decide_rows(classifier, examples: list[dict], rows: list[UnitRow], proba: np.ndarray) -> np.ndarray:
    """The served decision rule on corpus rows: per-label thresholds, then the topic gate on each
    row's whole message (as :meth:`service.analyzer.Analyzer.score` applies it)."""
    decided = classifier.decide(proba)
    text_of = {ex["id"]: ex["text"] for ex in examples}
    ids, message_of_row = message_index(rows)
    texts = [mask_placeholders(text_of[eid]) for eid in ids]
    gate = getattr(classifier, "topic_gate", None)
    return gate_flags(gate, texts, message_of_row, decided, len(FLAG_LABELS), proba)


def evaluate_split(classifier, examples: list[dict], split: str = "test", proba: np.ndarray | None = None) -> dict:
    """Metrics of the served decision rule on ``split``; ``proba`` reuses predictions already made for it."""
    rows = split_rows(examples, split, classifier.context_words)
    if proba is None:
        proba, _ = predict_rows(classifier, rows)
    y_pred = decide_rows(classifier, examples, rows, proba)
    metrics = label_metrics(targets(rows), y_pred)
    rate, n_clean = clean_message_flag_rate(rows, y_pred)
    metrics.update(split=split, units=len(rows), clean_messages=n_clean, clean_message_flag_rate=rate)
    return metrics


def read_realworld(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row["text"] for row in csv.DictReader(fh, delimiter="\t")]


def realworld_flags(analyzer: Analyzer, texts: list[str]) -> tuple[float, list[tuple[str, list[str]]]]:
    """Share of real conflict-free comments with any flag, and the flagged ones (for review only)."""
    flagged = []
    for text, analysis in zip(texts, analyzer.analyze_many(texts), strict=True):
        if analysis.flags:
            flagged.append((text, sorted({f.pattern for f in analysis.flags})))
    return len(flagged) / max(len(texts), 1), flagged


def retune_thresholds(
    classifier, examples: list[dict], beta: float, strengths_beta: float | None = None
) -> dict[str, float]:
    """Re-tune the loaded model's thresholds on the validation split for F-beta (beta < 1 favours
    precision: a flag needs stronger evidence). In memory only; ``heartfelt.json`` is not touched."""
    from training.train import TrainConfig, tune_thresholds

    rows = split_rows(examples, "validation", classifier.context_words)
    proba, _ = predict_rows(classifier, rows)
    thresholds = tune_thresholds(targets(rows), proba, TrainConfig.threshold_floor, beta, strengths_beta)
    classifier.use_thresholds(thresholds)
    return thresholds


def compare_backends(model_dir: Path, examples: list[dict], split: str = "test") -> dict:
    """How often int8 ONNX and fp32 torch make the same decision, per label, and each one's quality."""
    from service.loader import load_classifier

    classifiers = {backend: load_classifier(model_dir, backend) for backend in ("torch", "onnx")}
    rows = split_rows(examples, split, classifiers["torch"].context_words)  # one model: one setting
    y_true = targets(rows)
    decisions, report = {}, {"split": split, "units": len(rows)}
    for backend, classifier in classifiers.items():
        decisions[backend] = decide_rows(classifier, examples, rows, predict_rows(classifier, rows)[0])
        metrics = label_metrics(y_true, decisions[backend])
        report[backend] = {k: metrics[k] for k in ("macro_f1_flags", "macro_f1_strengths")}
    same = decisions["torch"] == decisions["onnx"]
    report["agreement"] = {label: float(same[:, i].mean()) for i, label in enumerate(LABELS)}
    report["agreement_all_decisions"] = float(same.mean())
    report["agreement_min_label"] = min(report["agreement"].values())
    return report


def main(argv: list[str] | None = None) -> int:
    from service.loader import load_classifier
    from service.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=get_settings().model_path)
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--corpus", type=Path, default=CORPUS_PATH, help="a corpus built elsewhere (experiments)")
    parser.add_argument("--realworld", type=Path, default=REALWORLD_PATH)
    parser.add_argument("--show-flagged", action="store_true", help="print the real comments that got flagged")
    parser.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    parser.add_argument("--compare-backends", action="store_true", help="int8 ONNX against fp32 torch on --split")
    parser.add_argument(
        "--beta", type=float, default=None, help="re-tune thresholds on validation for F-beta first (in memory)"
    )
    parser.add_argument("--strengths-beta", type=float, default=None, help="with --beta: the strengths' own beta")
    args = parser.parse_args(argv)

    if args.compare_backends:
        print(json.dumps(compare_backends(args.model, load_corpus(args.corpus), args.split), indent=2))
        return 0
    classifier = load_classifier(args.model, args.backend)
    examples = load_corpus(args.corpus)
    retuned = retune_thresholds(classifier, examples, args.beta, args.strengths_beta) if args.beta is not None else None
    report = evaluate_split(classifier, examples, args.split)
    if retuned is not None:
        report["thresholds_retuned"] = {"beta": args.beta, "strengths_beta": args.strengths_beta, **retuned}
    if args.realworld.is_file():
        rate, flagged = realworld_flags(Analyzer(classifier, max_length=100_000), read_realworld(args.realworld))
        report["realworld_flag_rate"] = rate
        report["realworld_flagged"] = len(flagged)
        if args.show_flagged:
            for text, patterns in flagged:
                print(f"{','.join(patterns)}\t{text}", file=sys.stderr)
    report["backend"] = classifier.backend
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
