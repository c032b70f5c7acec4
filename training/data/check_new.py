"""Check new pool files before they join the build: the checks each authoring round ran on its lines.

    python -m training.data.check_new FILE [FILE ...] [--no-embeddings]

For every line: the pool format (``training.data.pools.parse_line``), 3 to 60 words, the analyzer's
segmentation (a "but" clause or a semicolon must be listed as clauses), exact duplicates (normalised
text) of any pool, held-out or public line or another new line, and near-duplicates (cosine >=
``NEAR_COSINE`` between base-encoder embeddings) of the same. Prints one problem per line as
``file:line: ...`` and exits 1 when there is any. ``--no-embeddings`` skips the near-duplicate pass
(about a minute for the 20,000 lines it compares against).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from service.segmenter import segment
from training.data import PUBLIC_DIR, SENTENCES_DIR
from training.data.build import _unit_dicts
from training.data.pools import PoolError, Sentence, load_pools, normalise, parse_line
from training.data.validate import MAX_WORDS

NEAR_COSINE = 0.88  # stricter than the build's grouping (0.90): a near-twin wastes a writer's line
MIN_WORDS = 3  # the authoring rules' floor (training/data/sentences/AUTHORING.md)


def read_new(path: Path, problems: list[str]) -> list[Sentence]:
    """The file's lines that parse, with format, length and segmentation problems appended."""
    out = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            s = parse_line(raw, where)
        except (PoolError, KeyError, TypeError) as exc:
            problems.append(str(exc))
            continue
        words = len(s.text.split())
        if not MIN_WORDS <= words <= MAX_WORDS:
            problems.append(f"{where}: {words} words ({MIN_WORDS} to {MAX_WORDS})")
        cut = [(u.start, u.end) for u in segment(s.text)]
        want = [(u["start"], u["end"]) for u in _unit_dicts(s, 0)]  # the units the build will write
        if cut != want:
            pieces = [s.text[a:b] for a, b in cut]
            problems.append(f"{where}: the analyzer reads this as {pieces!r}; list those as clauses or reword")
        out.append(s)
    return out


def check(paths: list[Path], existing: list[Sentence], embeddings: bool = True) -> list[str]:
    """Every problem of the new files, read against ``existing`` and each other."""
    problems: list[str] = []
    new = [s for path in paths for s in read_new(path, problems)]
    seen = {normalise(s.text): s.origin for s in existing}
    for s in new:
        key = normalise(s.text)
        if key in seen:
            problems.append(f"{s.origin}: exact duplicate of {seen[key]}")
        seen.setdefault(key, s.origin)
    if embeddings and new:
        from training.embeddings import embed

        others = existing + new
        vectors = embed([s.text for s in others])  # one pass; the new lines are its last rows
        sims = vectors[len(existing) :] @ vectors.T
        for i, s in enumerate(new):
            sims[i, len(existing) + i] = -1.0  # not itself
            j = int(np.argmax(sims[i]))
            if sims[i, j] >= NEAR_COSINE and normalise(others[j].text) != normalise(s.text):
                problems.append(f"{s.origin}: near duplicate (cosine {sims[i, j]:.2f}) of {others[j].origin}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--no-embeddings", action="store_true", help="skip the near-duplicate pass")
    args = parser.parse_args(argv)
    files = {p.resolve() for p in args.files}
    existing = [
        s
        for directory in (SENTENCES_DIR, SENTENCES_DIR / "held_out", PUBLIC_DIR)
        for s in load_pools(directory)
        if (directory / s.origin.split(":")[0]).resolve() not in files
    ]
    problems = check(args.files, existing, embeddings=not args.no_embeddings)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems in {len(args.files)} file(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
