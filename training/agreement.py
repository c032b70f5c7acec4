"""How consistently can the corpus's labels be given? A second, blind reading of test messages.

    python -m training.agreement [--model models/heartfelt-minilm] [--readings training/data/agreement]

Each file in ``--readings`` holds one reader's labels for every unit of a random sample of test
messages (``{"id", "index", "text", "labels", "reader"}`` per unit), given by reading the label guide
and the whole message, without seeing the corpus's labels. The report scores each reader against the
corpus labels, per label and as macro-F1 over the flags and over the strengths, and scores the
built model's served decisions on the same units. A reader's F1 against the corpus is an estimate of
how much of the labelling a careful reader reproduces, so a model bar far above it asks the model to
learn one writer's borderline calls rather than the guide.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training.data import CORPUS_PATH
from training.dataset import label_vector, load_corpus, unit_rows
from training.evaluate import label_metrics

READINGS_DIR = Path(__file__).resolve().parent / "data" / "agreement"


def load_readings(directory: Path = READINGS_DIR) -> list[dict]:
    rows = []
    for path in sorted(directory.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def corpus_units(examples: list[dict]) -> dict[tuple[str, int], tuple[str, list[str]]]:
    """Each unit's text and labels, by (message id, unit index)."""
    return {
        (ex["id"], i): (ex["text"][u["start"] : u["end"]], u["labels"])
        for ex in examples
        for i, u in enumerate(ex["units"])
    }


def matched_units(readings: list[dict], units: dict) -> tuple[list[dict], int]:
    """The readings whose unit still exists in the corpus with the same text; and how many do not
    (a rebuilt corpus composes new messages, so old ids can disappear)."""
    kept = [r for r in readings if units.get((r["id"], r["index"]), ("",))[0] == r["text"]]
    return kept, len(readings) - len(kept)


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    m = label_metrics(y_true, y_pred)
    return {
        "macro_f1_flags": round(m["macro_f1_flags"], 4),
        "macro_f1_strengths": round(m["macro_f1_strengths"], 4),
        "f1": {label: round(v["f1"], 3) for label, v in m["per_label"].items()},
        "support": {label: v["support"] for label, v in m["per_label"].items()},
    }


def model_decisions(model_dir: Path, examples: list[dict], keys: list[tuple[str, int]]) -> np.ndarray:
    """The served decision rule (thresholds and topic gate) on the read units, in ``keys`` order."""
    from service.loader import load_classifier
    from training.evaluate import decide_rows, predict_rows

    classifier = load_classifier(model_dir)
    ids = {k[0] for k in keys}
    sample = [ex for ex in examples if ex["id"] in ids]
    rows = unit_rows(sample, classifier.context_words)  # each message's units in order, message after message
    proba, _ = predict_rows(classifier, rows)
    decided = decide_rows(classifier, sample, rows, proba)
    starts = np.cumsum([0] + [len(ex["units"]) for ex in sample])[:-1]
    first_row = dict(zip((ex["id"] for ex in sample), starts, strict=True))
    return np.stack([decided[first_row[eid] + index] for eid, index in keys])


def report(model_dir: Path | None, readings_dir: Path = READINGS_DIR, corpus: Path = CORPUS_PATH) -> dict:
    examples = load_corpus(corpus)
    units = corpus_units(examples)
    readings, missing = matched_units(load_readings(readings_dir), units)
    if not readings:
        raise SystemExit(f"no reading in {readings_dir} matches a unit of {corpus}")
    gold = np.stack([label_vector(units[(r["id"], r["index"])][1]) for r in readings])
    read = np.stack([label_vector(r["labels"]) for r in readings])
    reader_of = np.array([r["reader"] for r in readings])
    out: dict = {"units": len(readings), "units_no_longer_in_corpus": missing, "readers": {}}
    for reader in sorted({r["reader"] for r in readings}):
        mine = reader_of == reader
        out["readers"][reader] = {"units": int(mine.sum()), **scores(gold[mine], read[mine])}
    out["all_readers"] = scores(gold, read)
    if model_dir is not None:
        keys = [(r["id"], r["index"]) for r in readings]
        out["model"] = {"path": str(model_dir), **scores(gold, model_decisions(model_dir, examples, keys))}
    return out


def main(argv: list[str] | None = None) -> int:
    from service.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=get_settings().model_path, help="also score this model")
    parser.add_argument("--no-model", action="store_true", help="score the readers only")
    parser.add_argument("--readings", type=Path, default=READINGS_DIR)
    parser.add_argument("--corpus", type=Path, default=CORPUS_PATH)
    args = parser.parse_args(argv)
    print(json.dumps(report(None if args.no_model else args.model, args.readings, args.corpus), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
