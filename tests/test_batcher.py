"""Micro-batching: concurrent callers share forward passes, get their own rows back, and overload fails fast."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.batcher import MicroBatcher, Overloaded
from service.loader import load_classifier

SENTENCES = [
    "I'm sorry if you were hurt.",
    "You made me do it.",
    "Can we just move on already?",
    "I'll give you all the time you need.",
    "The train leaves at nine.",
    "I lied about Friday and I'm sorry.",
    "you're overreacting lol",
    "Thanks for the notes!",
]


@pytest.fixture(scope="module")
def classifier(tiny_model_dir):
    return load_classifier(tiny_model_dir)


def test_concurrent_calls_are_coalesced_and_answered_in_order(classifier):
    batcher = MicroBatcher(classifier, max_wait_ms=20, max_units=64)
    expected = [classifier.predict([s, s.upper()], ["", ""])[0] for s in SENTENCES]
    start = threading.Barrier(len(SENTENCES))

    def call(sentence: str) -> np.ndarray:
        with batcher.request():
            start.wait()
            return batcher.predict([sentence, sentence.upper()], ["", ""])[0]

    try:
        with ThreadPoolExecutor(len(SENTENCES)) as pool:
            results = list(pool.map(call, SENTENCES))
    finally:
        batcher.close()
    assert batcher.calls == len(SENTENCES)
    assert batcher.passes < len(SENTENCES)  # some calls shared a forward pass
    for got, want in zip(results, expected, strict=True):
        assert got.shape == (2, classifier.threshold_vector.size)
        # int8 activations are quantized per batch, so company can move a probability slightly.
        assert np.abs(got - want).max() < 0.05


def test_a_lone_request_does_not_wait_for_company(classifier):
    batcher = MicroBatcher(classifier, max_wait_ms=5_000)  # a long wait would time this test out
    try:
        with batcher.request():
            proba, vectors = batcher.predict(["Sorry, running late."], [""])
    finally:
        batcher.close()
    assert proba.shape[0] == vectors.shape[0] == 1 and batcher.passes == 1


class GatedClassifier:
    """The real classifier behind a gate, so the test can hold the worker mid-pass."""

    def __init__(self, inner):
        self.inner, self.gate, self.entered = inner, threading.Event(), threading.Event()
        self.info, self.hidden_size, self.backend = inner.info, inner.hidden_size, inner.backend
        self.decide, self.topic_gate, self.context_words = inner.decide, inner.topic_gate, inner.context_words
        self.ngram = inner.ngram

    def predict(self, units, contexts, batch_size=64):
        self.entered.set()
        self.gate.wait(timeout=30)
        return self.inner.predict(units, contexts, batch_size)


def test_a_full_queue_fails_fast_and_the_rest_are_still_answered(classifier):
    gated = GatedClassifier(classifier)
    batcher = MicroBatcher(gated, max_wait_ms=0, queue_limit=2)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.predict, ["one"], [""])
        assert gated.entered.wait(timeout=30)  # the worker holds "one" at the gate; the queue is empty
        queued = [pool.submit(batcher.predict, [s], [""]) for s in ("two", "three")]
        deadline = time.monotonic() + 30
        while len(batcher._jobs) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(Overloaded):
            batcher.predict(["four"], [""])
        gated.gate.set()
        assert first.result(timeout=30)[0].shape[0] == 1
        assert all(f.result(timeout=30)[0].shape[0] == 1 for f in queued)
    batcher.close()


def test_model_errors_reach_the_caller(classifier):
    class Broken(GatedClassifier):
        def predict(self, units, contexts, batch_size=64):
            raise RuntimeError("boom")

    batcher = MicroBatcher(Broken(classifier))
    with pytest.raises(RuntimeError, match="boom"):
        batcher.predict(["anything"], [""])
    batcher.close()
