"""Check the sentence pools and the built corpus; exit non-zero naming every offending line.

    python -m training.data.validate [--skip-embeddings]

Checks: pool format; corpus schema and offsets; that the corpus is built from the current pools;
split disjointness by normalised text and by embedding similarity (fp32 cosines, found through the
int8 shortlist of ``training.embeddings.nearest``); the minimum counts of the
corpus issue (per label, clean, everyday genres, hard negatives, situations, registers,
multi-sentence share, split shares); and that the public writing the topic gate learns from
(``public/``) is clean everyday text that repeats no corpus sentence and is no near-duplicate of a
validation or test unit.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from service.labels import LABELS
from training.data import CORPUS_PATH, PUBLIC_DIR, SENTENCES_DIR
from training.data.pools import GENRES, REGISTERS, SITUATIONS, PoolError, Sentence, dedupe, load_pools, normalise

SPLITS = ("train", "validation", "test")
LEAK_COSINE = 0.92  # the build groups at 0.90; the margin keeps float noise from flipping a verdict
MINIMUMS = {
    "sentences_per_label": 250,
    "clean_sentences": 3000,
    "everyday_clean_sentences": 2000,
    "everyday_genres": 20,
    "hard_negatives": 600,
    "situations": 10,
    "registers": 4,
}
MIN_MULTI_SENTENCE_SHARE = 0.40
MIN_SPLIT_SHARE = {"test": 0.15, "validation": 0.10}
MAX_WORDS = 60


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def fail(self, message: str) -> None:
        self.problems.append(message)


def pool_counts(sentences: list[Sentence]) -> dict:
    distinct, _ = dedupe(sentences)
    clean = [s for s in distinct if not s.labels]
    return {
        "sentences": len(distinct),
        "per_label": {label: sum(label in s.labels for s in distinct) for label in LABELS},
        "clean_sentences": len(clean),
        "everyday_clean_sentences": sum(s.situation == "none" for s in clean),
        "everyday_genres": dict(sorted(Counter(s.genre for s in clean if s.genre).items())),
        "hard_negatives": sum(s.hard_negative and not any(x in s.labels for x in LABELS[:6]) for s in distinct),
        "situations": dict(sorted(Counter(s.situation for s in distinct if s.situation != "none").items())),
        "registers": dict(sorted(Counter(s.register for s in distinct).items())),
        "words": {
            "min": min(len(s.text.split()) for s in distinct),
            "max": max(len(s.text.split()) for s in distinct),
        },
    }


def check_counts(counts: dict, report: Report) -> None:
    for label, n in counts["per_label"].items():
        if n < MINIMUMS["sentences_per_label"]:
            report.fail(f"counts: {label} has {n} distinct sentences, needs {MINIMUMS['sentences_per_label']}")
    for key in ("clean_sentences", "everyday_clean_sentences", "hard_negatives"):
        if counts[key] < MINIMUMS[key]:
            report.fail(f"counts: {key} is {counts[key]}, needs {MINIMUMS[key]}")
    for key in ("everyday_genres", "situations", "registers"):
        if len(counts[key]) < MINIMUMS[key]:
            report.fail(f"counts: {len(counts[key])} {key}, needs {MINIMUMS[key]}")
    if counts["words"]["max"] > MAX_WORDS:
        report.fail(f"counts: a sentence has {counts['words']['max']} words; the limit is {MAX_WORDS}")


def check_record(number: int, ex: object, report: Report) -> bool:
    where = f"corpus.jsonl:{number}"
    if not isinstance(ex, dict):
        report.fail(f"{where}: not a JSON object")
        return False
    for key, kind in (("id", str), ("text", str), ("units", list), ("split", str), ("source", str)):
        if not isinstance(ex.get(key), kind):
            report.fail(f"{where}: field {key!r} missing or not a {kind.__name__}")
            return False
    ok = True
    if ex["split"] not in SPLITS:
        report.fail(f"{where}: split {ex['split']!r} is not one of {SPLITS}")
        ok = False
    if ex["source"] not in ("written", "composed"):
        report.fail(f"{where}: source {ex['source']!r} is not written or composed")
        ok = False
    if ex.get("situation") not in (*SITUATIONS, "none") or ex.get("register") not in (*REGISTERS, "mixed"):
        report.fail(f"{where}: unknown situation {ex.get('situation')!r} or register {ex.get('register')!r}")
        ok = False
    if ex.get("genre") is not None and ex["genre"] not in GENRES:
        report.fail(f"{where}: unknown genre {ex['genre']!r}")
        ok = False
    text, previous_end = ex["text"], 0
    if not ex["units"]:
        report.fail(f"{where}: no units")
        return False
    for k, unit in enumerate(ex["units"]):
        start, end, labels = unit.get("start"), unit.get("end"), unit.get("labels")
        if not (isinstance(start, int) and isinstance(end, int) and previous_end <= start < end <= len(text)):
            report.fail(f"{where}: unit {k} offsets {start}-{end} are out of order or outside the text")
            ok = False
            continue
        span = text[start:end]
        if span != span.strip() or not span:
            report.fail(f"{where}: unit {k} ({start}-{end}) starts or ends with whitespace: {span!r}")
            ok = False
        if not isinstance(labels, list) or any(label not in LABELS for label in labels):
            report.fail(f"{where}: unit {k} has unknown labels {labels!r}")
            ok = False
        previous_end = end
    if text[previous_end:].strip() or any(
        text[a["end"] : b["start"]].strip() for a, b in zip(ex["units"], ex["units"][1:], strict=False)
    ):
        report.fail(f"{where}: text outside the units is not whitespace; every sentence must be a unit")
        ok = False
    return ok


def _pool_units(sentences: list[Sentence]) -> Counter:
    units: Counter = Counter()
    for s in dedupe(sentences)[0]:
        for text, labels in ((c.text, c.labels) for c in s.clauses) if s.clauses else [(s.text, s.labels)]:
            units[(text, tuple(labels))] += 1
    return units


def check_corpus(examples: list[tuple[int, dict]], sentences: list[Sentence], report: Report) -> None:
    corpus_units: Counter = Counter()
    where_unit: dict[tuple, int] = {}
    for number, ex in examples:
        for u in ex["units"]:
            key = (ex["text"][u["start"] : u["end"]], tuple(u["labels"]))
            corpus_units[key] += 1
            where_unit.setdefault(key, number)
    pool_units = _pool_units(sentences)
    for key in corpus_units - pool_units:
        report.fail(f"corpus.jsonl:{where_unit[key]}: unit {key[0]!r} with labels {list(key[1])} is not in the pools; "
                    "rebuild with `python -m training.data.build`")  # fmt: skip
    missing = pool_units - corpus_units
    if missing:
        text, _ = next(iter(missing))
        report.fail(f"corpus: {sum(missing.values())} pool units are missing from the corpus (e.g. {text!r}); "
                    "rebuild with `python -m training.data.build`")  # fmt: skip
    ids = Counter(ex["id"] for _, ex in examples)
    for eid, n in ids.items():
        if n > 1:
            report.fail(f"corpus: id {eid} is used {n} times")


def check_public(public_dir: Path, sentences: list[Sentence], report: Report) -> list[Sentence]:
    """The topic gate's public-writing pools: clean, everyday, distinct, and not in the corpus."""
    try:
        public = load_pools(public_dir)
    except PoolError as exc:
        report.fail(f"public: {exc}")
        return []
    corpus_keys = {normalise(s.text) for s in sentences}
    seen: set[str] = set()
    for s in public:
        where, key = f"public/{s.origin}", normalise(s.text)
        if s.labels or s.situation != "none":
            report.fail(f"{where}: public writing is clean everyday text (labels [], situation none)")
        if key in corpus_keys:
            report.fail(f"{where}: {s.text!r} is also a corpus sentence")
        if key in seen:
            report.fail(f"{where}: {s.text!r} repeats an earlier public line")
        if len(s.text.split()) > MAX_WORDS:
            report.fail(f"{where}: {len(s.text.split())} words; the limit is {MAX_WORDS}")
        seen.add(key)
    report.counts["public_texts"] = len(public)
    report.counts["public_genres"] = dict(sorted(Counter(s.genre for s in public).items()))
    return public


def split_units(examples: list[tuple[int, dict]]) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {s: [] for s in SPLITS}
    for number, ex in examples:
        for u in ex["units"]:
            out[ex["split"]].append((number, ex["text"][u["start"] : u["end"]]))
    return out


def check_splits(
    examples: list[tuple[int, dict]], report: Report, embeddings: bool, public: list[Sentence] = ()
) -> None:
    by_split = split_units(examples)
    total = sum(len(v) for v in by_split.values())
    shares = {s: len(v) / max(total, 1) for s, v in by_split.items()}
    report.counts["split_unit_shares"] = {s: round(v, 3) for s, v in shares.items()}
    for split, minimum in MIN_SPLIT_SHARE.items():
        if shares[split] < minimum:
            report.fail(f"splits: {split} holds {shares[split]:.1%} of units, needs {minimum:.0%}")
    train_keys = {normalise(t) for _, t in by_split["train"]}
    for split in ("validation", "test"):
        for number, text in by_split[split]:
            if normalise(text) in train_keys:
                report.fail(f"corpus.jsonl:{number}: {split} unit {text!r} also appears in train")
    multi = sum(ex["source"] == "composed" for _, ex in examples) / max(len(examples), 1)
    report.counts["multi_sentence_share"] = round(multi, 3)
    if multi < MIN_MULTI_SENTENCE_SHARE:
        report.fail(f"corpus: {multi:.1%} of examples are multi-sentence, needs {MIN_MULTI_SENTENCE_SHARE:.0%}")
    if embeddings:
        check_embedding_leakage(by_split, report, public)


def check_embedding_leakage(
    by_split: dict[str, list[tuple[int, str]]], report: Report, public: list[Sentence] = ()
) -> None:
    from training.embeddings import nearest

    train_texts = sorted({t for _, t in by_split["train"]})
    held_out = [(split, number, text) for split in ("validation", "test") for number, text in by_split[split]]
    memo: dict = {}  # int8 vectors: the public pass reads the held-out units again
    best, cosine = nearest([t for _, _, t in held_out], train_texts, LEAK_COSINE, memo)
    for (split, number, text), j, cos in zip(held_out, best, cosine, strict=True):
        if cos >= LEAK_COSINE:
            report.fail(f"corpus.jsonl:{number}: {split} unit {text!r} is a near-duplicate "
                        f"(cosine {cos:.3f}) of train unit {train_texts[j]!r}")  # fmt: skip
    report.counts["max_cross_split_cosine"] = round(float(cosine.max(initial=0.0)), 3)
    if public and held_out:  # the gate trains on public writing: none of it may stand in for a held-out unit
        best, cosine = nearest([s.text for s in public], [t for _, _, t in held_out], LEAK_COSINE, memo)
        for s, j, cos in zip(public, best, cosine, strict=True):
            if cos >= LEAK_COSINE:
                report.fail(f"public/{s.origin}: {s.text!r} is a near-duplicate (cosine {cos:.3f}) "
                            f"of held-out unit {held_out[j][2]!r}")  # fmt: skip
        report.counts["max_public_held_out_cosine"] = round(float(cosine.max()), 3)


def validate(
    corpus_path: Path = CORPUS_PATH,
    pools_dir: Path = SENTENCES_DIR,
    embeddings: bool = True,
    public_dir: Path = PUBLIC_DIR,
) -> Report:
    report = Report()
    try:
        sentences = load_pools(pools_dir)
    except PoolError as exc:
        report.fail(f"pools: {exc}")
        return report
    report.counts.update(pool_counts(sentences))
    check_counts(report.counts, report)
    examples = []
    with corpus_path.open(encoding="utf-8") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                ex = json.loads(raw)
            except json.JSONDecodeError as exc:
                report.fail(f"corpus.jsonl:{number}: not valid JSON ({exc.msg})")
                continue
            if check_record(number, ex, report):
                examples.append((number, ex))
    check_corpus(examples, sentences, report)
    public = check_public(public_dir, sentences, report)
    check_splits(examples, report, embeddings, public)
    report.counts["examples"] = len(examples)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS_PATH)
    parser.add_argument("--skip-embeddings", action="store_true", help="skip the embedding near-duplicate pass")
    args = parser.parse_args(argv)
    report = validate(args.corpus, embeddings=not args.skip_embeddings)
    print(json.dumps(report.counts, indent=2))
    if report.problems:
        for problem in report.problems:
            print(f"INVALID {problem}", file=sys.stderr)
        print(f"{len(report.problems)} problem(s) found", file=sys.stderr)
        return 1
    print("corpus OK", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
