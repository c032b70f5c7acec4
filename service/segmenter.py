"""Split a message into the units Heartfelt classifies: sentences, and clauses that stand as sentences.

Offsets are Python string indices, i.e. Unicode code points, so they stay exact for emoji,
combining marks and non-Latin scripts. (JavaScript strings count UTF-16 code units instead.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import pysbd

# A "but" opens a new clause when punctuation precedes it (", but you started it") or, in
# unpunctuated texting, when a few words precede it ("sorry ur upset but u started it").
# "nothing but love" and friends are not clause boundaries.
_BUT_AFTER_PUNCT = re.compile(r"(?<=[,;:\u2014\u2013\u2026-])\s+(?=but\b)", re.IGNORECASE)
_BUT_BARE = re.compile(r"(?<=\w)\s+(?=but\b)", re.IGNORECASE)
_SEMICOLON = re.compile(r";\s+(?=\S)")
_NOT_A_CLAUSE_BEFORE_BUT = {
    "nothing", "anything", "everything", "all", "none", "nobody", "anyone", "anybody", "everyone",
    "last", "no", "not", "cannot", "can't", "cant", "help", "could", "choice", "else",
}  # fmt: skip
_MIN_WORDS_BEFORE_BARE_BUT = 3
_WORD = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class Unit:
    """A sentence or clause: ``text == message[start:end]``."""

    start: int
    end: int
    text: str


@lru_cache(maxsize=1)
def _sentence_splitter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in _sentence_splitter().segment(text):
        sent = piece.sent
        # pysbd's own offsets are right in the common case; re-anchor on the text to stay exact.
        start = piece.start if text.startswith(sent, piece.start) and piece.start >= cursor else text.find(sent, cursor)
        if start < 0:  # pysbd altered the text: fall back to the rest of the message
            start, sent = cursor, text[cursor:]
        spans.append((start, start + len(sent)))
        cursor = start + len(sent)
    if cursor < len(text):
        spans.append((cursor, len(text)))
    return spans


def _clause_cuts(sentence: str) -> list[int]:
    cuts = {m.end() for m in _BUT_AFTER_PUNCT.finditer(sentence)}
    for m in _BUT_BARE.finditer(sentence):
        words_before = sentence[: m.start()].split()
        if len(words_before) >= _MIN_WORDS_BEFORE_BARE_BUT and words_before[-1].lower() not in _NOT_A_CLAUSE_BEFORE_BUT:
            cuts.add(m.end())
    cuts.update(m.end() for m in _SEMICOLON.finditer(sentence))
    return sorted(c for c in cuts if 0 < c < len(sentence))


def _trimmed(text: str, start: int, end: int) -> Unit | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if not _WORD.search(text, start, end):
        return None
    return Unit(start, end, text[start:end])


def segment(text: str) -> list[Unit]:
    """Return the message's units in order, with code-point offsets into ``text``."""
    units: list[Unit] = []
    for line_match in re.finditer(r"[^\n]+", text):  # a line break always ends a unit
        line_start = line_match.start()
        for s_start, s_end in _sentence_spans(line_match.group()):
            sentence = line_match.group()[s_start:s_end]
            bounds = [0, *_clause_cuts(sentence), len(sentence)]
            for a, b in pairwise(bounds):
                unit = _trimmed(text, line_start + s_start + a, line_start + s_start + b)
                if unit is not None:
                    units.append(unit)
    return units


CONTEXT_WORDS = 12  # words kept from each neighbour: enough to read "..., but" and "X. But", short enough to stay fast


def contexts(units: list[Unit], words: int = CONTEXT_WORDS) -> list[str]:
    """The neighbours each unit is read with: the last ``words`` words of the unit before it and the
    first ``words`` of the one after it. A model trained with ``words=0`` reads every unit alone."""
    if words <= 0:
        return [""] * len(units)
    out = []
    for i in range(len(units)):
        prev = " ".join(units[i - 1].text.split()[-words:]) if i > 0 else ""
        nxt = " ".join(units[i + 1].text.split()[:words]) if i + 1 < len(units) else ""
        out.append(f"{prev} {nxt}".strip())
    return out
