"""Turn a message into flags, strengths, a score and a summary (the public contract)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from service.labels import FLAGS, LABELS, STRENGTHS, is_flag
from service.schemas import Analysis, Flag, ModelRef, StrengthSpan
from service.scoring import message_score, summarize
from service.segmenter import Unit, contexts, segment


class Classifier(Protocol):
    info: object

    def predict_proba(self, units: list[str], contexts: list[str]) -> np.ndarray: ...

    def decide(self, proba: np.ndarray) -> np.ndarray: ...


class InvalidTextError(ValueError):
    """The text cannot be analyzed (empty, too long, not a string). The message never quotes it."""


def check_text(text: object, max_length: int) -> str:
    if not isinstance(text, str):
        raise InvalidTextError(f"text must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InvalidTextError("text is empty or only whitespace")
    if len(text) > max_length:
        raise InvalidTextError(f"text is {len(text)} characters long; the limit is {max_length}")
    return text


class Analyzer:
    def __init__(self, classifier: Classifier, max_length: int = 5000) -> None:
        self.classifier = classifier
        self.max_length = max_length
        self.model_ref = ModelRef(name=classifier.info.name, version=classifier.info.version)

    def analyze(self, text: str) -> Analysis:
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: Sequence[str]) -> list[Analysis]:
        """Analyze several messages with all their units in one batched classifier call."""
        segmented = [segment(check_text(t, self.max_length)) for t in texts]
        flat_units = [u.text for units in segmented for u in units]
        flat_ctx = [c for units in segmented for c in contexts(units)]
        proba = self.classifier.predict_proba(flat_units, flat_ctx)
        decided = self.classifier.decide(proba)
        results, row = [], 0
        for units in segmented:
            n = len(units)
            results.append(self._build(units, proba[row : row + n], decided[row : row + n]))
            row += n
        return results

    def _build(self, units: list[Unit], proba: np.ndarray, decided: np.ndarray) -> Analysis:
        flags: list[Flag] = []
        strengths: list[StrengthSpan] = []
        for unit, p, d in zip(units, proba, decided, strict=True):
            for j in np.flatnonzero(d):
                label, score = LABELS[j], round(float(p[j]), 4)
                span = {"start": unit.start, "end": unit.end, "text": unit.text, "score": score}
                if is_flag(label):
                    info = FLAGS[label]
                    flags.append(
                        Flag(**span, category=info.category, pattern=label,
                             explanation=info.explanation, impact=info.impact)
                    )  # fmt: skip
                else:
                    strengths.append(StrengthSpan(**span, strength=label, impact=STRENGTHS[label].impact))
        return Analysis(
            flags=flags,
            strengths=strengths,
            score=message_score(flags, strengths),
            summary=summarize(flags, strengths),
            model=self.model_ref,
        )
