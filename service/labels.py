"""The label set, defined once from training/LABEL_GUIDE.md.

Every part of Heartfelt (corpus validation, training, the analyzer, the API schemas) reads the
labels from here, so the order below is also the order of the classifier's output logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Category = Literal["vague", "defensive", "dismissive"]
Pattern = Literal["vague", "non_apology", "excuse", "blame", "minimize", "pressure"]
Strength = Literal["ownership", "validation", "repair", "patience"]


@dataclass(frozen=True)
class FlagInfo:
    category: Category
    name: str  # how a sentence of prose names it
    explanation: str
    impact: str


@dataclass(frozen=True)
class StrengthInfo:
    meaning: str
    impact: str


FLAGS: dict[str, FlagInfo] = {
    "vague": FlagInfo(
        "vague",
        "vague",
        "It admits that something went wrong only in general terms and never names what you actually did.",
        "unconvinced, wondering whether you even know what you did",
    ),
    "non_apology": FlagInfo(
        "vague",
        "a non-apology",
        "It apologises for their reaction, or only on a condition, instead of for your own action.",
        "dismissed, as if the hurt were being put back on them",
    ),
    "excuse": FlagInfo(
        "defensive",
        "an excuse",
        "It explains or justifies what happened, so your reasons come before the hurt you caused.",
        "unheard, because your reasons take the place of their pain",
    ),
    "blame": FlagInfo(
        "defensive",
        "blame-shifting",
        "It shifts responsibility onto them or someone else instead of keeping it with you.",
        "attacked, and pushed into defending themselves",
    ),
    "minimize": FlagInfo(
        "dismissive",
        "minimizing",
        "It makes what happened sound small or treats their feelings as the problem.",
        "belittled, as if their pain were an overreaction",
    ),
    "pressure": FlagInfo(
        "dismissive",
        "pressure",
        "It rushes forgiveness or sets a timeline for their healing.",
        "cornered, as if they had to heal on your schedule",
    ),
}

STRENGTHS: dict[str, StrengthInfo] = {
    "ownership": StrengthInfo("names the specific act and takes responsibility for it", "taken seriously"),
    "validation": StrengthInfo("acknowledges their feelings as legitimate", "heard"),
    "repair": StrengthInfo("offers concrete amends or a concrete change", "hopeful that it will not happen again"),
    "patience": StrengthInfo("respects their pace and freedom", "safe, not rushed"),
}

FLAG_LABELS: tuple[str, ...] = tuple(FLAGS)
STRENGTH_LABELS: tuple[str, ...] = tuple(STRENGTHS)
LABELS: tuple[str, ...] = FLAG_LABELS + STRENGTH_LABELS
LABEL2ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}
ID2LABEL: dict[int, str] = dict(enumerate(LABELS))


def is_flag(label: str) -> bool:
    return label in FLAGS
