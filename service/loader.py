"""Build the analyzer and the rewrite engine from settings (the one place that picks and loads a model backend)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.analyzer import Analyzer
from service.settings import Settings, get_settings

if TYPE_CHECKING:
    from service.rewriter import Rewriter


def load_rewriter(settings: Settings | None = None) -> Rewriter:
    """The rewrite engine, its analyzer wired to fill every flag's suggestions."""
    from service.classifier import TorchClassifier
    from service.rewriter import Rewriter

    settings = settings or get_settings()
    classifier = TorchClassifier(settings.model_path, num_threads=settings.threads)
    analyzer = Analyzer(classifier, max_length=settings.max_text_length)
    rewriter = Rewriter(analyzer)
    analyzer.suggest = rewriter.fill_suggestions
    return rewriter


def load_analyzer(settings: Settings | None = None) -> Analyzer:
    return load_rewriter(settings).analyzer
