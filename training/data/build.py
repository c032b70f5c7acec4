"""Build ``training/data/corpus.jsonl`` from the hand-written sentence pools.

    python -m training.data.build [--output PATH] [--split-seed N] [--compose-seed N]

The defaults rebuild the committed ``corpus.jsonl``; another ``--compose-seed`` gives the same
sentences in other messages, and ``--reassign --split-seed N`` other splits, for measuring how much a
model's figures move with them alone.

Steps, all seeded so the corpus is reproducible:
1. read the pools and drop exact duplicates (normalised text);
2. group near-duplicates (cosine >= GROUP_COSINE between base-encoder embeddings) so that a
   sentence and its near-twin always land in the same split;
3. assign whole groups to train/validation/test, stratified by each sentence's first label; sentences
   already in the committed ``corpus.jsonl`` keep their split (``--reassign`` draws them all afresh);
4. keep every message of the committed ``corpus.jsonl`` whose sentences are all still in the pools,
   in the same split, as it was (its labels are read from the pools again), so that test figures
   before and after a round of writing are measured on the same messages and the blind readings in
   ``agreement/`` still point at their units;
5. compose the other sentences into new messages inside each split (so split pools stay disjoint):
   a third of them stand alone, the rest are joined 2-4 at a time, by situation (or genre) and register.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from training.data import CORPUS_PATH
from training.data.pools import Sentence, dedupe, load_pools, normalise

SEED = 13
GROUP_COSINE = 0.90
SPLIT_SHARES = {"train": 0.70, "validation": 0.12, "test": 0.18}
SINGLE_SHARE = 1 / 3
_TERMINAL = tuple(".!?…)\"'”’") + tuple("😊🙏❤️💔😔😢😭🙃😂")


def near_duplicate_groups(embeddings: np.ndarray, threshold: float = GROUP_COSINE) -> list[int]:
    """Union-find over pairs above ``threshold``; returns a group id per row."""
    parent = list(range(len(embeddings)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(0, len(embeddings), 512):
        sims = embeddings[i : i + 512] @ embeddings.T
        for a, b in zip(*np.nonzero(sims >= threshold), strict=True):
            if b > a + i:
                parent[find(a + i)] = find(int(b))
    return [find(i) for i in range(len(embeddings))]


def sentence_and_clause_texts(sentences: list[Sentence]) -> tuple[list[str], list[int]]:
    """Every sentence and every clause of it, with the index of the sentence each belongs to."""
    texts, owners = [], []
    for i, s in enumerate(sentences):
        for t in (s.text, *(c.text for c in s.clauses)):
            texts.append(t)
            owners.append(i)
    return texts, owners


def union_owners(owners: list[int], n: int, *groupings: list) -> list[int]:
    """Merge sentences whose texts (sentence or clause) share a group in any of ``groupings``."""
    first_owner: dict[tuple, int] = {}
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k, grouping in enumerate(groupings):
        for owner, group in zip(owners, grouping, strict=True):
            key = (k, group)
            if key in first_owner:
                parent[find(owner)] = find(first_owner[key])
            else:
                first_owner[key] = owner
    return [find(i) for i in range(n)]


HELD_OUT_FIRST = ("test", "validation", "train")  # a group with members in several splits goes to the first


def previous_splits(path: Path) -> dict[str, str]:
    """Normalised unit text -> split, from an earlier build (empty when there is none)."""
    return unit_splits(previous_examples(path))


def unit_splits(examples: list[dict]) -> dict[str, str]:
    """Normalised unit text -> split, over ``examples``."""
    return {normalise(ex["text"][u["start"] : u["end"]]): ex["split"] for ex in examples for u in ex["units"]}


def previous_examples(path: Path) -> list[dict]:
    """The messages of an earlier build (none when there is none)."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def kept_messages(previous: list[dict], sentences: list[Sentence], splits: list[str]) -> tuple[list[dict], set[int]]:
    """The earlier messages that can be made again from the same sentences in the same split, and those sentences.

    A message is read back unit by unit: a unit is a whole sentence, or the first clause of a sentence
    whose clauses follow it. A message with a sentence that is gone, moved split or already used is
    dropped, and its other sentences are composed afresh.
    """
    starting: dict[str, list[int]] = defaultdict(list)  # many sentences open with "I'm sorry if you were hurt,"
    for i, s in enumerate(sentences):
        starting[s.clauses[0].text if s.clauses else s.text].append(i)

    def units_of(i: int) -> list[str]:
        return [c.text for c in sentences[i].clauses] or [sentences[i].text]

    kept, used = [], set()
    for ex in previous:
        units = [ex["text"][u["start"] : u["end"]] for u in ex["units"]]
        parts, k = [], 0
        while k < len(units):
            fits = [
                i for i in starting.get(units[k], [])
                if splits[i] == ex["split"] and i not in used and i not in parts
                and units_of(i) == units[k : k + len(units_of(i))]
            ]  # fmt: skip
            if not fits:
                break
            parts.append(max(fits, key=lambda i: len(units_of(i))))  # the longest reading of these units
            k += len(units_of(parts[-1]))
        else:
            message = _message([sentences[i] for i in parts], ex["split"], ex["source"])
            if message["text"] == ex["text"]:
                kept.append(message)
                used.update(parts)
    return kept, used


def assign_splits(
    sentences: list[Sentence], groups: list[int], seed: int = SEED, previous: dict[str, str] | None = None
) -> list[str]:
    """Whole groups to train/validation/test, stratified by each group's first label.

    A group holding a sentence (or clause) that ``previous`` already placed keeps that split, or the
    most held-out one of several, so adding sentences never moves an old test sentence into training.
    New groups go, in seeded order, to whichever split of their stratum is furthest below its share.
    """
    previous = previous or {}
    members: dict[int, list[int]] = defaultdict(list)
    for idx, g in enumerate(groups):
        members[g].append(idx)
    strata: dict[str, list[int]] = defaultdict(list)
    split_of_group: dict[int, str] = {}
    for g, idxs in members.items():
        first = sentences[idxs[0]]
        strata[first.labels[0] if first.labels else ("hard_negative" if first.hard_negative else "clean")].append(g)
        before = {
            previous[key]
            for i in idxs
            for t in (sentences[i].text, *(c.text for c in sentences[i].clauses))
            if (key := normalise(t)) in previous
        }
        if before:
            split_of_group[g] = min(before, key=HELD_OUT_FIRST.index)
    rng = random.Random(seed)
    for key in sorted(strata):
        placed = dict.fromkeys(SPLIT_SHARES, 0)
        fresh = []
        for g in sorted(strata[key]):
            if g in split_of_group:
                placed[split_of_group[g]] += len(members[g])
            else:
                fresh.append(g)
        rng.shuffle(fresh)
        total = sum(len(members[g]) for g in strata[key])
        for g in fresh:
            split = max(HELD_OUT_FIRST, key=lambda sp: SPLIT_SHARES[sp] * total - placed[sp])
            split_of_group[g] = split
            placed[split] += len(members[g])
    return [split_of_group[g] for g in groups]


_ROLE_ORDER = {
    "vague": 1, "non_apology": 1, "ownership": 1, "excuse": 2, "blame": 2, "minimize": 2,
    "validation": 2, "repair": 3, "patience": 4, "pressure": 4,
}  # fmt: skip


def _role(s: Sentence, rng: random.Random) -> float:
    """Rough position of a sentence in a real draft: admission, then reasons/feelings, then repair, then pace."""
    rank = min((_ROLE_ORDER[label] for label in s.labels), default=rng.choice([0, 2, 5]))
    return rank + rng.random() * 0.9


def _unit_dicts(s: Sentence, offset: int) -> list[dict]:
    extra = {"hard_negative": True} if s.hard_negative else {}
    if not s.clauses:
        return [{"start": offset, "end": offset + len(s.text), "labels": list(s.labels), **extra}]
    return [
        {"start": offset + c.offset, "end": offset + c.offset + len(c.text), "labels": list(c.labels), **extra}
        for c in s.clauses
    ]


def _message(parts: list[Sentence], split: str, source: str) -> dict:
    text, units = "", []
    for s in parts:
        if text:
            text += " " if text.endswith(_TERMINAL) else "\n"  # unpunctuated texting: one message per line
        units.extend(_unit_dicts(s, len(text)))
        text += s.text
    registers = {s.register for s in parts}
    first = parts[0]
    record = {
        "id": "hf-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12],
        "text": text,
        "units": units,
        "situation": first.situation,
        "register": first.register if len(registers) == 1 else "mixed",
        "split": split,
        "source": source,
    }
    if first.genre:
        record["genre"] = first.genre
    return record


def compose(sentences: list[Sentence], split: str, rng: random.Random) -> list[dict]:
    order = list(range(len(sentences)))
    rng.shuffle(order)
    n_single = round(len(order) * SINGLE_SHARE)
    examples = [_message([sentences[i]], split, "written") for i in order[:n_single]]
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for i in order[n_single:]:
        s = sentences[i]
        buckets[(s.situation, s.genre or "", s.register == "texting")].append(i)
    for key in sorted(buckets):
        idxs = buckets[key]
        while idxs:
            size = min(len(idxs), rng.choice([2, 2, 3, 3, 4]))
            if len(idxs) - size == 1:
                size += 1  # never leave a lone sentence behind
            chosen, idxs = idxs[:size], idxs[size:]
            parts = sorted((sentences[i] for i in chosen), key=lambda s: _role(s, rng))
            examples.append(_message(parts, split, "composed" if len(parts) > 1 else "written"))
    return examples


def build(
    out_path: Path = CORPUS_PATH, split_seed: int = SEED, compose_seed: int = SEED, keep_splits: bool = True
) -> dict:
    """Pools -> corpus. With ``keep_splits`` the sentences already in ``corpus.jsonl`` keep their splits, and
    its messages are kept where their sentences all still are (``--reassign``: everything drawn afresh)."""
    from training.embeddings import embed

    sentences, dropped = dedupe(load_pools())
    texts, owners = sentence_and_clause_texts(sentences)
    # a sentence and all its clauses share one group, so a near-twin clause can't cross splits either;
    # texts equal after normalisation ("I messed up," / "i messed up;") are joined even below the cosine bar
    groups = union_owners(owners, len(sentences), near_duplicate_groups(embed(texts)), [normalise(t) for t in texts])
    previous = previous_examples(CORPUS_PATH) if keep_splits else []
    splits = assign_splits(sentences, groups, split_seed, unit_splits(previous))
    examples, used = kept_messages(previous, sentences, splits)
    rng = random.Random(compose_seed)
    for split in SPLIT_SHARES:
        pool = [s for i, (s, sp) in enumerate(zip(sentences, splits, strict=True)) if sp == split and i not in used]
        examples.extend(compose(pool, split, rng))
    examples.sort(key=lambda e: (list(SPLIT_SHARES).index(e["split"]), e["id"]))
    with out_path.open("w", encoding="utf-8") as fh:
        for e in examples:
            fh.write(json.dumps(e, ensure_ascii=False) + "\n")
    return {"sentences": len(sentences), "exact_duplicates_dropped": dropped, "examples": len(examples)}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=CORPUS_PATH)
    parser.add_argument("--split-seed", type=int, default=SEED, help="which sentence groups go to which split")
    parser.add_argument("--compose-seed", type=int, default=SEED, help="how sentences are joined into messages")
    parser.add_argument(
        "--reassign", action="store_true", help="draw every split afresh instead of keeping corpus.jsonl's"
    )
    args = parser.parse_args(argv)
    print(json.dumps(build(args.output, args.split_seed, args.compose_seed, not args.reassign), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
