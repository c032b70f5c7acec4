"""Regenerate the counts section of the dataset card (``training/data/README.md``).

python -m training.data.card          # rewrite the section between the markers
python -m training.data.card --check  # exit 1 if the card is out of date
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from service.labels import LABELS
from training.data import DATA_DIR, PUBLIC_DIR
from training.data.pools import load_pools
from training.data.validate import pool_counts
from training.dataset import load_corpus

CARD = DATA_DIR / "README.md"
START, END = "<!-- counts:start -->", "<!-- counts:end -->"


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def counts_markdown() -> str:
    counts = pool_counts(load_pools())
    examples = load_corpus()
    unit_split: Counter = Counter()
    label_split: Counter = Counter()
    for ex in examples:
        for u in ex["units"]:
            unit_split[ex["split"]] += 1
            for label in u["labels"] or ["(none)"]:
                label_split[(label, ex["split"])] += 1
    splits = ("train", "validation", "test")
    example_split = Counter(ex["split"] for ex in examples)
    source = Counter(ex["source"] for ex in examples)
    parts = [
        f"Written sentences (distinct): **{counts['sentences']}**; clean (no label): **{counts['clean_sentences']}**, "
        f"of which **{counts['everyday_clean_sentences']}** are everyday text outside relationship conflict; "
        f"hard negatives: **{counts['hard_negatives']}**; words per sentence: "
        f"{counts['words']['min']}-{counts['words']['max']}.",
        f"Examples: **{len(examples)}** ({source['written']} single sentences, {source['composed']} composed "
        f"multi-sentence messages = {source['composed'] / len(examples):.1%}).",
        "### Sentences per label (a sentence counts once per label it carries)",
        _table(("label", "sentences"), [(f"`{x}`", counts["per_label"][x]) for x in LABELS]),
        "### Units per label and split",
        _table(
            ("label", *splits),
            [(f"`{x}`", *(label_split[(x, s)] for s in splits)) for x in (*LABELS, "(none)")]
            + [
                ("**all units**", *(unit_split[s] for s in splits)),
                ("**examples**", *(example_split[s] for s in splits)),
            ],
        ),
        "### Conflict situations (sentences)",
        _table(("situation", "sentences"), sorted(counts["situations"].items())),
        "### Everyday genres (clean sentences)",
        _table(("genre", "sentences"), sorted(counts["everyday_genres"].items())),
        "### Registers (sentences)",
        _table(("register", "sentences"), sorted(counts["registers"].items())),
    ]
    public = load_pools(PUBLIC_DIR)
    parts += [
        f"### Public writing for the topic gate (`public/`, not classifier training data): **{len(public)}** lines",
        _table(
            ("genre", "lines"),
            sorted(Counter(s.genre for s in public).items()),
        ),
    ]
    return "\n\n".join(parts)


def render(card: str) -> str:
    head, rest = card.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{counts_markdown()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    current = CARD.read_text(encoding="utf-8")
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("training/data/README.md counts are stale: run `python -m training.data.card`", file=sys.stderr)
            return 1
        return 0
    CARD.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
