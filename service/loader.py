"""Build the classifier, the analyzer and the rewrite engine from settings (the one place that picks a backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from service.analyzer import Analyzer
from service.settings import Settings, get_settings

if TYPE_CHECKING:
    from service.classifier import Classifier
    from service.rewriter import Rewriter


def load_classifier(
    model_path: str | Path, backend: str = "auto", threads: int | None = None, cache_size: int = 0
) -> Classifier:
    """``onnx`` (int8, no torch imported), ``torch`` (fp32), or ``auto``: onnx when the export exists.

    ``cache_size`` pairs' outputs are kept by the ONNX backend (:class:`service.onnx_backend.PairCache`).
    """
    from service.onnx_backend import onnx_path

    if backend == "onnx" or (backend == "auto" and onnx_path(model_path) is not None):
        from service.onnx_backend import OnnxClassifier

        return OnnxClassifier(model_path, num_threads=threads, cache_size=cache_size)
    if backend not in ("auto", "torch"):
        raise ValueError(f"unknown backend {backend!r}; choose auto, onnx or torch")
    from service.classifier import TorchClassifier

    return TorchClassifier(model_path, num_threads=threads)


def load_rewriter(settings: Settings | None = None) -> Rewriter:
    """The rewrite engine, its analyzer wired to fill every flag's suggestions."""
    from service.rewriter import Rewriter

    settings = settings or get_settings()
    classifier = load_classifier(settings.model_path, settings.backend, settings.threads, settings.pair_cache_size)
    analyzer = Analyzer(classifier, max_length=settings.max_text_length)
    rewriter = Rewriter(analyzer)
    analyzer.suggest = rewriter.fill_suggestions
    return rewriter


def load_analyzer(settings: Settings | None = None) -> Analyzer:
    return load_rewriter(settings).analyzer
