"""Build the analyzer from settings (the one place that picks and loads a model backend)."""

from __future__ import annotations

from service.analyzer import Analyzer
from service.settings import Settings, get_settings


def load_analyzer(settings: Settings | None = None) -> Analyzer:
    from service.classifier import TorchClassifier

    settings = settings or get_settings()
    classifier = TorchClassifier(settings.model_path, num_threads=settings.threads)
    return Analyzer(classifier, max_length=settings.max_text_length)
