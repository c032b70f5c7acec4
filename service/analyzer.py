"""Turn a message into flags, strengths, a score and a summary (the public contract)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from service.labels import FLAG_LABELS, FLAGS, LABEL2ID, LABELS, STRENGTHS, is_flag
from service.schemas import Analysis, Flag, ModelRef, StrengthSpan
from service.scoring import message_score, summarize
from service.segmenter import Unit, contexts, segment
from service.topic_gate import gate_closed


class Classifier(Protocol):
    info: object
    context_words: int

    def predict_proba(self, units: list[str], contexts: list[str]) -> np.ndarray: ...

    def decide(self, proba: np.ndarray) -> np.ndarray: ...


# An unfilled "[say exactly what you did]" is a prompt to the writer. The classifier reads a neutral
# mark in its place, and a unit holding one is not called vague: the missing specifics go there.
PLACEHOLDER = re.compile(r"\[[^\[\]\n]{2,80}\]")
PLACEHOLDER_MASK = "…"
_VAGUE = LABEL2ID["vague"]


def mask_placeholders(text: str) -> str:
    return PLACEHOLDER.sub(PLACEHOLDER_MASK, text)


@dataclass(frozen=True)
class Scored:
    """One message as the classifier read it: units, probabilities, decisions and (when available) embeddings."""

    units: list[Unit]
    proba: np.ndarray
    decided: np.ndarray
    vectors: np.ndarray | None


def classify(
    classifier: Classifier, units: list[str], ctx: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Probabilities, decisions and embeddings (None if the classifier gives none), in one batched call.

    The decisions are the units' own; the topic gate, which reads whole messages, is applied by
    :meth:`Analyzer.score`. The rewrite engine verifies its candidates with these ungated decisions,
    the stricter reading.
    """
    masked_units, masked_ctx = [mask_placeholders(u) for u in units], [mask_placeholders(c) for c in ctx]
    if hasattr(classifier, "predict"):
        proba, vectors = classifier.predict(masked_units, masked_ctx)
    else:
        proba, vectors = classifier.predict_proba(masked_units, masked_ctx), None
    decided = classifier.decide(proba)
    for i, unit in enumerate(units):
        if PLACEHOLDER.search(unit):
            decided[i, _VAGUE] = False
    return proba, decided, vectors


# Fills each flag's ``suggestions`` in place (the rewrite engine provides it; see service.loader).
SuggestionHook = Callable[[Sequence[str], list[Scored], list[Analysis]], None]


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
    def __init__(self, classifier: Classifier, max_length: int = 5000, suggest: SuggestionHook | None = None) -> None:
        self.classifier = classifier
        self.max_length = max_length
        self.suggest = suggest
        self.model_ref = ModelRef(name=classifier.info.name, version=classifier.info.version)
        # The topic gate reads whole messages with its own ONNX session. It runs here, beside the rewrite
        # engine's verification pass, so a flagged message waits for the slower of the two, not for both
        # (threads are started on first use; onnxruntime releases the GIL while it runs).
        self._gate_pool = ThreadPoolExecutor(2, thread_name_prefix="heartfelt-gate")

    def analyze(self, text: str) -> Analysis:
        return self.analyze_many([text])[0]

    def analyze_many(self, texts: Sequence[str], *, suggestions: bool = True) -> list[Analysis]:
        """Analyze several messages with all their units in one batched classifier call."""
        scored, closing = self.score_pending(texts)
        analyses = [self._build(s) for s in scored]
        if suggestions and self.suggest is not None and any(a.flags for a in analyses):
            # Suggestions for every unit the classifier flags, while the gate decides which messages
            # keep their flags: the work spent on a message it turns away is the price of the overlap.
            self.suggest(texts, scored, analyses)
        for k in close_flags(scored, closing.result()):
            analyses[k] = self._build(scored[k])
        return analyses

    def score(self, texts: Sequence[str]) -> list[Scored]:
        """Segment and classify several messages, all their units in one batched call, gate applied."""
        scored, closing = self.score_pending(texts)
        close_flags(scored, closing.result())
        return scored

    def score_pending(self, texts: Sequence[str]) -> tuple[list[Scored], Future[list[int]]]:
        """:meth:`score` before the topic gate, and the gate's verdict still running: the indices of the
        messages it turns away, for :func:`close_flags`. Clean messages never reach the gate."""
        segmented = [segment(check_text(t, self.max_length)) for t in texts]
        flat_units = [u.text for units in segmented for u in units]
        flat_ctx = [c for units in segmented for c in contexts(units, self.classifier.context_words)]
        proba, decided, vectors = classify(self.classifier, flat_units, flat_ctx)
        message_of_row = np.repeat(np.arange(len(texts)), [len(units) for units in segmented])
        results, row = [], 0
        for units in segmented:
            n = len(units)
            vec = None if vectors is None else vectors[row : row + n]
            results.append(Scored(units, proba[row : row + n], decided[row : row + n], vec))
            row += n
        gate = getattr(self.classifier, "topic_gate", None)
        closing: Future[list[int]] = Future()
        if gate is None or not decided[:, : len(FLAG_LABELS)].any():
            closing.set_result([])
            return results, closing
        masked = [mask_placeholders(t) for t in texts]
        # A copy of the decisions: the caller may read or clear ``results`` while the gate runs.
        args = (gate, masked, message_of_row, decided.copy(), len(FLAG_LABELS), proba)
        return results, self._gate_pool.submit(gate_closed, *args)

    def _build(self, scored: Scored) -> Analysis:
        flags: list[Flag] = []
        strengths: list[StrengthSpan] = []
        for unit, p, d in zip(scored.units, scored.proba, scored.decided, strict=True):
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


def close_flags(scored: list[Scored], closed: list[int]) -> list[int]:
    """Clear the flags of the messages the topic gate turned away (in place); returns ``closed``."""
    for k in closed:
        scored[k].decided[:, : len(FLAG_LABELS)] = False
    return closed
