"""Request micro-batching: concurrent requests share one forward pass.

Every model call of the analyzer and the rewrite engine goes through ``Classifier.predict``. In the
server, :class:`MicroBatcher` stands in for the classifier: callers (request threads) put their
units on a bounded queue and block; one worker thread takes what is queued, waits a few
milliseconds for requests that are already being handled to add theirs, runs a single batched
pass and hands each caller its rows. A lone request does not wait at all (nobody else is in
flight), and a full queue fails fast with :class:`Overloaded` instead of piling up.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from service.classifier import Classifier


class Overloaded(RuntimeError):
    """More requests are waiting for the model than the queue allows; the caller should retry later."""


@dataclass
class _Job:
    units: list[str]
    contexts: list[str]
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """A :class:`Classifier` look-alike whose ``predict`` coalesces concurrent calls."""

    def __init__(self, classifier: Classifier, max_wait_ms: float = 2.0, max_units: int = 64, queue_limit: int = 256):
        self.classifier = classifier
        self.info, self.hidden_size, self.backend = classifier.info, classifier.hidden_size, classifier.backend
        self.decide, self.topic_gate, self.ngram = classifier.decide, classifier.topic_gate, classifier.ngram
        self.context_words = classifier.context_words
        self.max_wait = max_wait_ms / 1000
        self.max_units = max_units
        self.queue_limit = queue_limit
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._active = 0  # requests being handled (and so possibly about to call predict)
        self._closed = False
        self.passes = 0  # forward passes run, and calls served: their ratio is the batching gain
        self.calls = 0
        self._worker = threading.Thread(target=self._run, name="heartfelt-batcher", daemon=True)
        self._worker.start()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Mark one request in flight, so the worker knows whether waiting for company can pay off."""
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def predict(self, units: list[str], contexts: list[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        if not units:
            return self.classifier.predict(units, contexts)
        job = _Job(list(units), list(contexts))
        with self._cond:
            if self._closed:
                raise Overloaded("the model is shutting down")
            if len(self._jobs) >= self.queue_limit:
                raise Overloaded("too many requests are waiting for the model")
            self._jobs.append(job)
            self._cond.notify_all()
        return job.future.result()

    def predict_proba(self, units: list[str], contexts: list[str], batch_size: int = 64) -> np.ndarray:
        return self.predict(units, contexts)[0]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout=5)

    def _take(self) -> list[_Job] | None:
        """The next group of jobs to run together (None once closed)."""
        with self._cond:
            while not self._jobs and not self._closed:
                self._cond.wait()
            if self._closed and not self._jobs:
                return None
            deadline = time.monotonic() + self.max_wait
            # Wait for company only while other requests are in flight and have not queued yet.
            while (
                len(self._jobs) < self._active
                and sum(len(j.units) for j in self._jobs) < self.max_units
                and (left := deadline - time.monotonic()) > 0
            ):
                self._cond.wait(left)
            taken, units = [], 0
            while self._jobs and (not taken or units + len(self._jobs[0].units) <= self.max_units):
                job = self._jobs.popleft()
                taken.append(job)
                units += len(job.units)
            return taken

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            units = [u for job in jobs for u in job.units]
            contexts = [c for job in jobs for c in job.contexts]
            try:
                proba, vectors = self.classifier.predict(units, contexts)
            except Exception as exc:  # handed to every caller, who raise it in their own request
                for job in jobs:
                    job.future.set_exception(exc)
                continue
            self.passes += 1
            self.calls += len(jobs)
            start = 0
            for job in jobs:
                end = start + len(job.units)
                job.future.set_result((proba[start:end], vectors[start:end]))
                start = end
