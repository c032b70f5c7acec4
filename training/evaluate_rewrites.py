"""Measure the rewrite engine on the corpus's held-out test split, and regenerate the README's examples.

python -m training.evaluate_rewrites [--model models/heartfelt-minilm] [--split test] [--sample N] [--readme]

Prints JSON: the share of rewrites of flagged messages that carry no flag when analyzed again, the
share of content words (4+ letters) of unflagged sentences that survive, how many rewrites are
identical to a flagged input, and the share of shown suggestions read as flagged once put in place
of their flag. ``--sample N`` measures a fixed, seeded draw of N messages (the test suite's gate, whose
time then stays flat as the corpus grows). ``--readme`` rewrites the before/after table in README.md between
the rewrite-examples markers, from 12 varied test-split messages run through the engine.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Sequence
from pathlib import Path

from service.labels import FLAG_LABELS
from service.rewriter import Rewriter
from service.schemas import RewriteResult
from training.dataset import load_corpus

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- rewrite-examples:start -->", "<!-- rewrite-examples:end -->"
BATCH = 32
EXAMPLES_PER_PATTERN = 2
MAX_EXAMPLE_CHARS = 170
_REGISTERS = (("careful", "emotional", "mixed"), ("texting", "terse"))
_WORDS = re.compile(r"[A-Za-z][A-Za-z']*")


def sample_messages(texts: Sequence[str], n: int | None, seed: int = 0) -> list[str]:
    """``n`` of ``texts`` drawn at random with ``seed``, in their corpus order; all of them when ``n`` is None
    or at least their number."""
    if n is None or n >= len(texts):
        return list(texts)
    keep = sorted(random.Random(seed).sample(range(len(texts)), n))
    return [texts[k] for k in keep]


def rewrite_all(rewriter: Rewriter, texts: Sequence[str]) -> list[RewriteResult]:
    out: list[RewriteResult] = []
    for i in range(0, len(texts), BATCH):
        out += rewriter.rewrite_many(texts[i : i + BATCH])
    return out


def measure(rewriter: Rewriter, texts: list[str]) -> dict:
    started = time.perf_counter()
    scored = rewriter.analyzer.score(texts)
    results = rewrite_all(rewriter, texts)
    flagged = [k for k, s in enumerate(scored) if s.decided[:, : len(FLAG_LABELS)].any()]
    kept = total = 0
    for s, result in zip(scored, results, strict=True):
        survivors = {w.lower() for w in _WORDS.findall(result.rewrite)}
        for unit, row in zip(s.units, s.decided, strict=True):
            if not row[: len(FLAG_LABELS)].any():
                words = [w.lower() for w in _WORDS.findall(unit.text) if len(w) >= 4]
                total += len(words)
                kept += sum(w in survivors for w in words)
    clean = [k for k in flagged if not results[k].analysis.flags]
    originals = rewriter.analyzer.analyze_many([texts[k] for k in flagged])
    flags = [f for a in originals for f in a.flags]
    placed = suggestions_flagged_in_place(rewriter, [texts[k] for k in flagged], originals)
    return {
        "messages": len(texts),
        "flagged_messages": len(flagged),
        "rewrites_without_flags": round(len(clean) / max(len(flagged), 1), 4),
        "unflagged_content_words_kept": round(kept / max(total, 1), 4),
        "rewrites_identical_to_flagged_input": sum(results[k].rewrite == texts[k] for k in flagged),
        "unflagged_messages_with_edits": sum(bool(r.edits) for k, r in enumerate(results) if k not in set(flagged)),
        "flags_with_suggestions": round(sum(bool(f.suggestions) for f in flags) / max(len(flags), 1), 4),
        "suggestions_shown": placed[1],
        "suggestions_flagged_in_place": round(placed[0] / max(placed[1], 1), 4),
        "rewrites_with_placeholders": round(
            sum(bool(results[k].placeholders) for k in flagged) / max(len(flagged), 1), 4
        ),
        "mean_score_before": round(sum(a.score for a in originals) / max(len(originals), 1), 1),
        "mean_score_after": round(sum(results[k].analysis.score for k in flagged) / max(len(flagged), 1), 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def suggestions_flagged_in_place(rewriter: Rewriter, texts: list[str], analyses: list) -> tuple[int, int]:
    """How many shown suggestions, put in place of their flag, are read as flagged there, out of how many.

    Suggestions are verified on their own (``Rewriter._verify``); this measures what that misses.
    """
    placed = [(t[: f.start] + s.text + t[f.end :], f.start, f.start + len(s.text))
              for t, a in zip(texts, analyses, strict=True) for f in a.flags for s in f.suggestions]  # fmt: skip
    flagged = 0
    for i in range(0, len(placed), BATCH):
        chunk = placed[i : i + BATCH]
        for (_, start, end), a in zip(chunk, rewriter.analyzer.analyze_many([c[0] for c in chunk], suggestions=False),
                                      strict=True):  # fmt: skip
            flagged += any(f.start < end and f.end > start for f in a.flags)
    return flagged, len(placed)


def pick_examples(examples: list[dict], model_flags: set[str]) -> list[dict]:
    """Two short messages per pattern (by their first gold flag) that the model flags too: one careful and
    one texting where possible."""
    picked: list[dict] = []
    for pattern in FLAG_LABELS:
        pool = sorted((ex for ex in examples if len(ex["text"]) <= MAX_EXAMPLE_CHARS and _first_flag(ex) == pattern
                       and ex["text"] in model_flags), key=lambda ex: ex["id"])  # fmt: skip
        chosen = [next((ex for ex in pool if ex["register"] in registers), None) for registers in _REGISTERS]
        chosen = [ex for ex in chosen if ex is not None]
        chosen += [ex for ex in pool if ex not in chosen][: EXAMPLES_PER_PATTERN - len(chosen)]
        picked += chosen
    return picked


def _first_flag(example: dict) -> str | None:
    for unit in example["units"]:
        for label in unit["labels"]:
            if label in FLAG_LABELS:
                return label
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>").strip()


def readme_table(rewriter: Rewriter, examples: list[dict]) -> str:
    texts = [ex["text"] for ex in examples]
    lines = ["| draft | flagged as | suggested rewrite | how |", "|---|---|---|---|"]
    for text, original, result in zip(texts, rewriter.analyzer.analyze_many(texts, suggestions=False),
                                      rewrite_all(rewriter, texts), strict=True):  # fmt: skip
        flagged = ", ".join(dict.fromkeys(f.pattern for f in original.flags)) or "—"
        how = "; ".join(dict.fromkeys(e.strategy for e in result.edits)) or "unchanged"
        if result.analysis.flags:
            how += " (still flagged: " + ", ".join(f.pattern for f in result.analysis.flags) + ")"
        lines.append(f"| {_cell(text)} | {flagged} | {_cell(result.rewrite)} | {how} |")
    return "\n".join(lines)


def update_readme(table: str, path: Path = README) -> None:
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{path} has no {START} … {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    from service.loader import load_rewriter
    from service.settings import Settings, get_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=get_settings().model_path)
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--sample", type=int, default=None, help="measure a seeded draw of N messages of the split")
    parser.add_argument("--readme", action="store_true", help="regenerate the README's before/after table")
    args = parser.parse_args(argv)

    rewriter = load_rewriter(Settings(model_path=args.model))
    examples = [ex for ex in load_corpus() if ex["split"] == args.split]
    if args.readme:
        short = [ex["text"] for ex in examples if len(ex["text"]) <= MAX_EXAMPLE_CHARS]
        flagged = {
            t
            for t, s in zip(short, rewriter.analyzer.score(short), strict=True)
            if s.decided[:, : len(FLAG_LABELS)].any()
        }
        update_readme(readme_table(rewriter, pick_examples(examples, flagged)))
        print(f"updated the rewrite examples in {README}")
        return 0
    texts = sample_messages([ex["text"] for ex in examples], args.sample)
    print(json.dumps(measure(rewriter, texts), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
