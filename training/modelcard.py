"""Write the model card (``README.md`` with Hugging Face metadata) and PR curves for a built model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.labels import FLAG_LABELS, LABELS
from training.dataset import split_rows, targets

PLOT_FILE = "pr_curves.png"


def plot_pr_curves(classifier, examples: list[dict], out: Path, proba: np.ndarray | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    from training.evaluate import predict_rows

    rows = split_rows(examples, "test", classifier.context_words)
    y = targets(rows)
    if proba is None:  # the test split's probabilities, unless the build already has them
        proba, _ = predict_rows(classifier, rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for j, label in enumerate(LABELS):
        if y[:, j].sum() == 0:
            continue
        p, r, _ = precision_recall_curve(y[:, j], proba[:, j])
        ax = axes[0] if label in FLAG_LABELS else axes[1]
        ax.plot(r, p, label=label)
        t = classifier.info.thresholds[label]
        pred = proba[:, j] >= t
        tp = float((pred & (y[:, j] == 1)).sum())
        ax.scatter([tp / y[:, j].sum()], [tp / max(pred.sum(), 1)], marker="o", s=18)
    for ax, title in zip(axes, ("flags", "strengths"), strict=True):
        ax.set(title=f"{title}: precision-recall on the test split (dots: tuned thresholds)", xlabel="recall")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8, loc="lower left")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("precision")
    fig.tight_layout()
    path = out / PLOT_FILE
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _yaml(report: dict) -> str:
    test = report["test"]
    lines = [
        "---",
        "language: en",
        "license: apache-2.0",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        f"base_model: {report['training']['base_model']}",
        "tags: [text-classification, multi-label-classification, apology, communication]",
        "model-index:",
        f"- name: {report['model']['name']}",
        "  results:",
        "  - task: {type: text-classification, name: Multi-label apology-pattern classification}",
        "    dataset: {type: heartfelt-corpus, name: Heartfelt corpus (test split), split: test}",
        "    metrics:",
        f"    - {{type: f1, name: macro-F1 (six flag patterns), value: {test['macro_f1_flags']:.4f}}}",
        f"    - {{type: f1, name: macro-F1 (four strengths), value: {test['macro_f1_strengths']:.4f}}}",
        f"    - {{type: false_positive_rate, name: clean messages flagged, value: {test['clean_message_flag_rate']:.4f}}}",
    ]
    if "realworld_flag_rate" in report:
        lines.append(
            f"    - {{type: false_positive_rate, name: real-world clean comments flagged, value: {report['realworld_flag_rate']:.4f}}}"
        )
    return "\n".join([*lines, "---", ""])


def card_text(report: dict) -> str:
    test, training = report["test"], report["training"]
    rows = "\n".join(
        f"| `{label}` | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} | {report['thresholds'][label]:.2f} |"
        for label, m in test["per_label"].items()
    )
    realworld = (
        f"- Real conflict-free comments flagged (2,000 GoEmotions dev comments, `realworld_clean_dev.tsv`): "
        f"**{report['realworld_flag_rate']:.1%}**\n"
        if "realworld_flag_rate" in report
        else ""
    )
    minutes = training["train_seconds"] / 60
    rate = training["config"].get("dropout")  # absent in builds that predate the setting: the base model's
    dropout = "the base model's dropout" if rate is None else f"encoder dropout {rate}"
    return f"""{_yaml(report)}
# {report["model"]["name"]}

Heartfelt's classifier: it reads one sentence (or clause) of a message someone is drafting to a person
they hurt, together with its neighbouring sentences, and gives a probability for each of six patterns
that make an apology land badly and four strengths that help it land (`training/LABEL_GUIDE.md`).

- Version: `{report["model"]["version"]}`
- Base model: `{training["base_model"]}` (22.7M parameters).
- Architecture: `service.modeling.HeartfeltClassifier`: the BERT encoder reads the unit with its
  neighbours as a second segment, mean-pools the unit's own tokens, and a linear layer gives one
  logit per label; `problem_type="multi_label_classification"`.
{_ngram_line(training)}- Labels (`config.json` `id2label`): {", ".join(f"`{x}`" for x in LABELS)}.
- Decision thresholds: one per label, tuned on the validation split for {_f_beta(training)}, stored in `heartfelt.json`.
- Topic gate: a flag also needs the whole message to read as written to someone the writer hurt or
  is at odds with, scored by a logistic regression on the base encoder's (not fine-tuned) sentence
  embedding of the message (`topic.int8.onnx`, `service.topic_gate`), fitted on the train split's
  messages; its threshold lets {_gate_recall(training)} of the validation messages with a gold flag through
  (`heartfelt.json`, `topic_gate`).

## Evaluation (held-out test split of the Heartfelt corpus, {test["units"]} units)

| label | precision | recall | F1 | support | threshold |
|---|---|---|---|---|---|
{rows}

- Macro-F1 over the six flag patterns: **{test["macro_f1_flags"]:.3f}**; over the four strengths: **{test["macro_f1_strengths"]:.3f}**
- Clean test messages (no gold flag) given any flag: **{test["clean_message_flag_rate"]:.1%}** of {test["clean_messages"]}
{realworld}
![precision-recall curves]({PLOT_FILE})

Reproduce: `python -m training.evaluate --model <this folder>`.

## Training

- Data: the Heartfelt corpus (`training/data/`, train split: {training["train_units"]} units), hand-written by the team.
- Recipe: {recipe_length(training)}, batch {training["config"]["batch_size"]}, AdamW with the encoder at
  {training["config"]["lr_encoder"]} and the mean-pooled linear head at {training["config"]["lr_head"]}, linear decay,
  BCE with positives weighted {training["config"]["pos_weight"]}x, {dropout}, seed {training["config"]["seed"]}.
- Training time: **{training["train_seconds"]:.0f} s ({minutes:.1f} min)** on {training["torch_threads"]} CPU threads.
- Rebuild: `make model` (or `heartfelt train`).

## Intended use and limits

For reflection on one's own drafts: it points at phrases that may land badly and says why. It is not a
judge of a person or a relationship, it reads English only, and it was trained on short written
messages; long, unusual or sarcastic text is read less reliably. Scores are probabilities from a
small model, not certainties.
"""


def recipe_length(training: dict) -> str:
    """How long the build trained: its steps and what they came to in passes over the train split."""
    if "train_steps" not in training:  # builds before session 20 recorded the epochs asked for only
        return f"{training['config']['epochs']} epochs"
    return f"{training['train_steps']:,} steps ({training['train_epochs']:.2f} epochs)"


def _ngram_line(training: dict) -> str:
    weight = float(training["config"].get("ngram_weight", 0.0))
    if not weight:
        return ""
    return (
        f"- N-gram layer: each label's probability is {1 - weight:.0%} the encoder's and {weight:.0%} a logistic\n"
        "  regression's on the unit's word 1-3 and character 2-5 grams (TF-IDF), fitted on the same train\n"
        "  units (`ngram.npz`, `service.ngram`); thresholds and the gate read the blend.\n"
    )


def _gate_recall(training: dict) -> str:
    return f"{float(training['config'].get('gate_recall', 0.98)):.0%}"


def _f_beta(training: dict) -> str:
    beta = float(training["config"].get("threshold_beta", 1.0))
    strengths = training["config"].get("strengths_threshold_beta")
    own = "" if strengths is None else f"; the strengths: beta {float(strengths):g}"
    return "F1" if beta == 1.0 and not own else f"F-beta with beta {beta:g} (precision weighed more{own})"


def write_card(out: Path, report: dict, classifier, examples: list[dict], test_proba: np.ndarray | None = None) -> Path:
    plot_pr_curves(classifier, examples, out, test_proba)
    path = out / "README.md"
    path.write_text(card_text(report), encoding="utf-8")
    return path
