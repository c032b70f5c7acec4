"""The validator's embedding leakage pass: fp32 torch over every unit against the int8 shortlist.

    python -m benchmarks.embeddings [--corpus training/data/corpus.jsonl] [--check-cut 0.8] [--output FILE]

On the committed corpus, finds each validation and test unit's nearest train unit three ways and
times each: fp32 torch embeddings of every text (the reference, as the validator ran before session
21); int8 ONNX embeddings of every text (export included); and ``training.embeddings.nearest``, the
int8 shortlist re-scored in fp32 that the validator now runs at its leak cut. Reports how far the
int8 cosines stray from fp32's, and, running ``nearest`` again at ``--check-cut`` (below the leak cut,
so that it must get many more units exactly right), how many units whose fp32 nearest cosine reaches
that cut it got wrong: the validator's verdicts are fp32's only while that count is 0. Absolute
times drift on a shared machine; compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from training.data import CORPUS_PATH
from training.data.build import GROUP_COSINE
from training.data.validate import LEAK_COSINE, split_units
from training.embeddings import _onnx_session, embed, nearest


def _nearest_full(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    return np.concatenate([(queries[i : i + 2048] @ keys.T).max(axis=1) for i in range(0, len(queries), 2048)])


def _row(cosine: np.ndarray, seconds: float) -> dict:
    return {
        "seconds": round(seconds, 1),
        "max_cross_split_cosine": round(float(cosine.max()), 4),
        f"units_at_or_over_{GROUP_COSINE}": int((cosine >= GROUP_COSINE).sum()),
        f"units_at_or_over_{LEAK_COSINE}": int((cosine >= LEAK_COSINE).sum()),
    }


def run(corpus: Path = CORPUS_PATH, check_cut: float = 0.8) -> dict:
    with corpus.open(encoding="utf-8") as fh:
        by_split = split_units([(n, json.loads(line)) for n, line in enumerate(fh, start=1) if line.strip()])
    train = sorted({t for _, t in by_split["train"]})
    held_out = [t for split in ("validation", "test") for _, t in by_split[split]]
    rows, cosines = {}, {}
    for backend in ("torch", "onnx"):
        start = time.perf_counter()
        cosines[backend] = _nearest_full(embed(held_out, backend=backend), embed(train, backend=backend))
        rows[f"{backend}, every text"] = _row(cosines[backend], time.perf_counter() - start)
    _onnx_session.cache_clear()  # the shortlist pays for its own export, as in a fresh validator run
    start = time.perf_counter()
    _, shortlisted = nearest(held_out, train, LEAK_COSINE)
    rows["int8 shortlist, fp32 verdict (validator)"] = _row(shortlisted, time.perf_counter() - start)
    _, checked = nearest(held_out, train, check_cut)
    reached = cosines["torch"] >= check_cut
    drift = np.abs(cosines["onnx"] - cosines["torch"])
    return {
        "held_out_units": len(held_out),
        "train_texts": len(train),
        "passes": rows,
        "int8_nearest_cosine_drift": {
            "max": round(float(drift.max()), 4),
            "p99": round(float(np.quantile(drift, 0.99)), 4),
        },
        "shortlist_check": {
            "cut": check_cut,
            "units_whose_fp32_nearest_reaches_it": int(reached.sum()),
            "of_them_given_another_cosine": int((np.abs(checked[reached] - cosines["torch"][reached]) > 1e-4).sum()),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS_PATH)
    parser.add_argument("--check-cut", type=float, default=0.8)
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    text = json.dumps(run(args.corpus, args.check_cut), indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
