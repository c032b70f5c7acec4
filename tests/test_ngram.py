"""The n-gram layer: serving's numpy features match scikit-learn's, and the classifier blends it in."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from service.classifier import METADATA_FILE, ModelNotFoundError
from service.labels import LABELS
from service.ngram import NgramLayer, char_wb_ngrams, word_ngrams
from service.onnx_backend import ChecksumError
from training.dataset import load_corpus, split_rows
from training.ngram import CHAR_NGRAMS, WORD_NGRAMS, fit_ngram

TRICKY = [
    "I'm sorry if you were hurt, but you're overreacting.",
    "ok   fine\n\nwhatever u say 🙄",
    "I — I didn't mean it… honestly!!",
    "a b c",
    "Ünïcödé café naïve résumé",
    "",
    "x",
    "don't  don't don't",
]


@pytest.mark.parametrize("text", TRICKY)
def test_analyzers_make_scikit_learns_ngrams(text: str) -> None:
    word = TfidfVectorizer(ngram_range=WORD_NGRAMS).build_analyzer()
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS).build_analyzer()
    assert Counter(word_ngrams(text, *WORD_NGRAMS)) == Counter(word(text))
    assert Counter(char_wb_ngrams(text, *CHAR_NGRAMS)) == Counter(char(text))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[str]]:
    """A layer fitted on 1,500 train units, and 400 test units it never saw."""
    rows = split_rows(load_corpus(), "train")[::8][:1500]
    out = tmp_path_factory.mktemp("ngram")
    record = fit_ngram(out, rows, weight=0.4)
    test = [r.text for r in split_rows(load_corpus(), "test")[::8][:400]] + TRICKY
    return out, record, test


def test_layer_scores_as_scikit_learn_would(fitted) -> None:
    out, record, texts = fitted
    layer = NgramLayer(out, record)
    with np.load(out / record["file"]) as saved:
        parts = []
        for name, kwargs in (("word", {}), ("char", {"analyzer": "char_wb"})):
            ngrams = WORD_NGRAMS if name == "word" else CHAR_NGRAMS
            terms = saved[f"{name}_terms"].tolist()
            v = TfidfVectorizer(ngram_range=ngrams, sublinear_tf=True, vocabulary=terms, **kwargs)
            v.idf_ = saved[f"{name}_idf"]
            parts.append(v.transform(texts).toarray())
        logits = np.hstack(parts) @ saved["coef"] + saved["intercept"]
        assert record["terms"] == len(saved["word_terms"]) + len(saved["char_terms"])
    expected = 1.0 / (1.0 + np.exp(-logits))
    np.testing.assert_allclose(layer.proba(texts), expected, atol=1e-5)


def test_layer_learns_the_labels(fitted) -> None:
    """Trained on 1,500 units it already tells a plain non-apology from logistics."""
    out, record, _ = fitted
    layer = NgramLayer(out, record)
    proba = layer.proba(["I'm sorry if you were offended.", "The train leaves at nine."])
    j = LABELS.index("non_apology")
    assert proba[0, j] > 0.5 > proba[1, j]


def test_layer_refuses_a_changed_or_missing_file(fitted, tmp_path: Path) -> None:
    out, record, _ = fitted
    copy = tmp_path / "m"
    shutil.copytree(out, copy)
    with (copy / record["file"]).open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ChecksumError):
        NgramLayer(copy, record)
    (copy / record["file"]).unlink()
    with pytest.raises(ModelNotFoundError, match="make model"):
        NgramLayer(copy, record)


def test_classifier_blends_the_layer_in(tiny_model_dir: Path) -> None:
    """Every decision reads the blend: (1 - w) * encoder + w * n-gram, on both backends."""
    from service.loader import load_classifier

    meta = json.loads((tiny_model_dir / METADATA_FILE).read_text(encoding="utf-8"))
    assert meta["ngram"]["weight"] > 0 and meta["training"]["ngram_seconds"] > 0  # the fit's time is reported
    units = ["I'm sorry if you were hurt.", "You're overreacting.", "See you Sunday."]
    contexts = ["", "", ""]
    for backend in ("torch", "onnx"):
        classifier = load_classifier(tiny_model_dir, backend)
        encoder, _ = classifier.predict_encoder(units, contexts)
        w = classifier.ngram.weight
        expected = (1 - w) * encoder + w * classifier.ngram.proba(units)
        np.testing.assert_allclose(classifier.predict(units, contexts)[0], expected, atol=1e-6)


def test_weights_are_compared_on_validation_and_test(tiny_model_dir: Path, write_corpus) -> None:
    """`python -m training.ngram` scores the blend per weight; the layer alone learns a lexical pattern."""
    from training.ngram import compare_weights

    sorry = ["Sorry if you were hurt.", "I'm sorry if that upset you.", "Sorry if you felt bad."]
    plain = ["The bus leaves at six.", "Bring the blue folder.", "Lunch is at noon today."]
    messages = [("train", [(s, ["non_apology"]), (p, [])]) for s in sorry for p in plain]
    messages += [
        (split, [("Sorry if you were upset.", ["non_apology"]), ("The folder is blue.", [])])
        for split in ("validation", "test")
    ]
    rows = compare_weights(tiny_model_dir, [0.0, 1.0], beta=1.0, corpus=write_corpus("c", messages))
    assert [r["weight"] for r in rows] == [0.0, 1.0]
    alone = rows[1]
    assert alone["validation"] == alone["test"] == round(1 / 6, 4)  # non-apology perfect; no other flag present
