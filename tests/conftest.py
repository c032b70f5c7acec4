"""Shared fixtures: a tiny model trained once per session, and the full model built by `make model`."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest

from service.settings import DEFAULT_MODEL_DIR

TINY_TRAIN_UNITS = 2400
TINY_EPOCHS = 2.0


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model, fine-tuned quickly on a subset of the train split and exported to int8 ONNX
    (about two and a half minutes on 2 cores), laid out exactly as `make model` lays out the full one."""
    from training.export import export
    from training.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny-model")
    # Two epochs, not the full build's step budget. Dropout 0.1 (the base model's): on 1,200 units and two
    # epochs the full recipe's dropout 0 left this model flagging plain logistics ("See you Sunday."), which
    # the API and rewrite tests read.
    # A balanced draw of 2,400 (half clean, equal label shares): since session 11 the train split is 60%
    # flagged units, and a random 1,200 left the tiny model flagging rewrites and taking "sorry you feel
    # that way" for pressure; a balanced 1,200 still scored every flag label within 0.1 of the others.
    config = TrainConfig(
        output_dir=out,
        max_steps=None,
        epochs=TINY_EPOCHS,
        max_train_units=TINY_TRAIN_UNITS,
        subsample="balanced",
        dropout=0.1,
    )
    config.write_card = config.measure_realworld = config.measure_test = False
    train(config)
    export(out)
    return out


@pytest.fixture(scope="session")
def tiny_analyzer(tiny_model_dir: Path):
    """The analyzer on the serving default backend (int8 ONNX)."""
    from service.analyzer import Analyzer
    from service.loader import load_classifier

    return Analyzer(load_classifier(tiny_model_dir), max_length=5000)


@pytest.fixture(scope="session")
def tiny_rewriter(tiny_analyzer):
    """The rewrite engine on the tiny model, wired to fill the analyzer's suggestions (as in serving)."""
    from service.rewriter import Rewriter

    rewriter = Rewriter(tiny_analyzer)
    tiny_analyzer.suggest = rewriter.fill_suggestions
    return rewriter


@pytest.fixture(scope="session")
def full_model_dir() -> Path:
    """The model `make model` builds; `make test` builds it before running pytest."""
    path = Path(os.environ.get("HEARTFELT_MODEL_PATH", DEFAULT_MODEL_DIR))
    if not (path / "heartfelt.json").is_file():
        pytest.skip(f"no full model at {path}; run `make model` (make test does)")
    return path


@pytest.fixture(scope="session")
def full_analyzer(full_model_dir: Path):
    """The analyzer on the default backend, which the quality gate must hold for."""
    from service.analyzer import Analyzer
    from service.loader import load_classifier

    return Analyzer(load_classifier(full_model_dir), max_length=5000)


@pytest.fixture
def write_corpus(tmp_path: Path):
    """Writes a small corpus file: ``write_corpus(name, [(split, [(unit text, labels), ...]), ...])``, each
    message its units joined by single spaces, with ids ``<name>0``, ``<name>1``, ..."""
    import json

    def write(name: str, messages: list[tuple[str, list[tuple[str, list[str]]]]]) -> Path:
        lines = []
        for i, (split, parts) in enumerate(messages):
            units, offset = [], 0
            for text, labels in parts:
                units.append({"start": offset, "end": offset + len(text), "labels": labels})
                offset += len(text) + 1
            text = " ".join(t for t, _ in parts)
            lines.append(json.dumps({"id": f"{name}{i}", "text": text, "units": units, "split": split}) + "\n")
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(lines), encoding="utf-8")
        return path

    return write
