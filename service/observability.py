"""Structured logs and Prometheus metrics. Neither ever carries message text."""

from __future__ import annotations

import logging
import sys

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from service.labels import FLAG_LABELS


def configure_logging(json_lines: bool = False, level: int = logging.INFO) -> None:
    """Route structlog and the standard library (uvicorn included) through one formatter."""
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))  # fmt: skip
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True  # our access log replaces it (no query strings)


class Metrics:
    """The service's own metrics, in a registry per app so several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inference_seconds = Histogram(
            "heartfelt_inference_seconds",
            "Time spent in the analyzer per request (segmentation, classification, suggestions).",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=self.registry,
        )
        self.flags = Counter(
            "heartfelt_flags_total", "Flags returned, by pattern.", ["pattern"], registry=self.registry
        )
        self.messages = Counter("heartfelt_messages_total", "Messages analyzed.", ["route"], registry=self.registry)
        for pattern in FLAG_LABELS:
            self.flags.labels(pattern=pattern)
        self._pair_cache: _PairCacheCollector | None = None

    def watch_pair_cache(self, cache: object | None) -> None:
        """Export the ONNX backend's pair-cache counts (read at scrape time), once per app."""
        if cache is not None and self._pair_cache is None:
            self._pair_cache = _PairCacheCollector(cache)
            self.registry.register(self._pair_cache)


class _PairCacheCollector:
    """Hit, miss and entry counts of a :class:`service.onnx_backend.PairCache`: numbers only."""

    def __init__(self, cache: object) -> None:
        self.cache = cache

    def collect(self):
        lookups = CounterMetricFamily(
            "heartfelt_pair_cache_lookups", "Pair-cache look-ups, by result.", labels=["result"]
        )
        lookups.add_metric(["hit"], self.cache.hits)
        lookups.add_metric(["miss"], self.cache.misses)
        yield lookups
        yield GaugeMetricFamily("heartfelt_pair_cache_entries", "Pairs held in the pair cache.", value=len(self.cache))
