"""The message score and the plain-language summary.

Score (0-100), documented in the README:
    score = clamp(50 + 12.5 * distinct_strengths - 15 * flags, 0, 100)
A message with no flags and no strengths sits at 50; each of the four strengths present adds 12.5
(all four reach 100); each flagged phrase takes 15 away.
"""

from __future__ import annotations

from service.labels import FLAGS, STRENGTHS
from service.schemas import Flag, StrengthSpan

BASE = 50.0
PER_STRENGTH = 12.5
PER_FLAG = 15.0


def message_score(flags: list[Flag], strengths: list[StrengthSpan]) -> int:
    distinct = {s.strength for s in strengths}
    raw = BASE + PER_STRENGTH * len(distinct) - PER_FLAG * len(flags)
    return round(min(100.0, max(0.0, raw)))


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def summarize(flags: list[Flag], strengths: list[StrengthSpan]) -> str:
    patterns = _unique([f.pattern for f in flags])
    kinds = _unique([s.strength for s in strengths])
    works = _join([STRENGTHS[k].meaning for k in kinds])
    if not patterns:
        if not kinds:
            return "Nothing in this message reads as vague, defensive or dismissive."
        feel = _join([STRENGTHS[k].impact for k in kinds])
        return f"This is likely to land well: it {works}, so they may feel {feel}."
    phrases = "phrase reads" if len(flags) == 1 else "phrases read"
    names = _join([FLAGS[p].name for p in patterns])
    feel = _join([FLAGS[p].impact.split(",")[0] for p in patterns])
    text = f"As written they may feel {feel}: {len(flags)} {phrases} as {names}."
    if kinds:
        text += f" What already works: it {works}."
    return text
