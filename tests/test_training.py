"""Train a small real model and check it round-trips and has learned the obvious cases."""

import json
import re
from collections import Counter

import numpy as np
import pytest
from transformers import AutoConfig

from service.classifier import METADATA_FILE, ModelNotFoundError, TorchClassifier
from service.labels import FLAG_LABELS, ID2LABEL, LABELS
from training.dataset import UnitRow, load_corpus
from training.embeddings import base_model_path
from training.train import (
    THRESHOLD_GRID,
    TrainConfig,
    epoch_average_callback,
    fresh_model,
    model_version,
    parse_args,
    parse_command,
    planned_epochs,
    subsample_rows,
    training_rows,
    tune_thresholds,
)


def test_saved_model_declares_multi_label_problem_and_label_maps(tiny_model_dir):
    config = AutoConfig.from_pretrained(tiny_model_dir)
    assert config.problem_type == "multi_label_classification"
    assert {int(k): v for k, v in config.id2label.items()} == ID2LABEL
    assert config.label2id == {v: k for k, v in ID2LABEL.items()}


def test_thresholds_are_saved_per_label_and_used_for_decisions(tiny_model_dir):
    meta = json.loads((tiny_model_dir / METADATA_FILE).read_text())
    assert set(meta["thresholds"]) == set(LABELS)
    classifier = TorchClassifier(tiny_model_dir)
    proba = np.array([list(classifier.threshold_vector)])
    assert classifier.decide(proba).all()  # exactly at the threshold counts
    assert not classifier.decide(proba - 1e-3).any()


def test_the_version_names_the_weights_and_the_decision_rule(tiny_model_dir):
    meta = json.loads((tiny_model_dir / METADATA_FILE).read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{10}\.[0-9a-f]{6}", meta["version"])
    assert model_version(tiny_model_dir, meta) == meta["version"]
    refit = {**meta, "topic_gate": {**meta["topic_gate"], "threshold": meta["topic_gate"]["threshold"] / 2}}
    other = model_version(tiny_model_dir, refit)
    assert other != meta["version"] and other.split(".")[:3] == meta["version"].split(".")[:3]  # same weights
    reweighed = {**meta, "ngram": {**meta["ngram"], "weight": meta["ngram"]["weight"] / 2}}
    assert model_version(tiny_model_dir, reweighed) not in (meta["version"], other)


def test_round_trip_gives_identical_probabilities(tiny_model_dir):
    units, ctx = ["I'm sorry if you were hurt.", "I'll pay you back by Friday."], ["", ""]
    a = TorchClassifier(tiny_model_dir).predict_proba(units, ctx)
    b = TorchClassifier(tiny_model_dir).predict_proba(units, ctx)
    assert a.shape == (2, len(LABELS))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_tiny_model_has_learned_the_obvious_cases(tiny_model_dir):
    classifier = TorchClassifier(tiny_model_dir)
    flagged = ["I'm sorry you feel that way about the whole thing.", "You made me do it, so this one is on you."]
    everyday = ["The train leaves at nine from platform four.", "Preheat the oven to 200 degrees."]
    proba = classifier.predict_proba(flagged + everyday, [""] * 4)
    flag_max = proba[:, : len(FLAG_LABELS)].max(axis=1)
    assert flag_max[:2].min() > flag_max[2:].max()
    first = {label: proba[0, LABELS.index(label)] for label in FLAG_LABELS}
    assert max(first, key=first.get) == "non_apology"


def test_the_build_trains_a_step_budget_unless_given_epochs(tiny_model_dir):
    recipe = parse_args([])
    assert recipe.max_steps == 1673  # the default build: the same steps whatever the corpus's size
    assert planned_epochs(recipe, 25_237) == pytest.approx(1673 / 789)  # 789 batches of 32 a pass
    assert planned_epochs(recipe, 50_000) == pytest.approx(1673 / 1563)
    experiment = parse_args(["--epochs", "2"])
    assert experiment.max_steps is None and planned_epochs(experiment, 25_237) == 2
    with pytest.raises(SystemExit):
        parse_args(["--epochs", "2", "--max-steps", "100"])
    # the tiny fixture trains epochs: two passes over 2,400 units in batches of 32
    training = json.loads((tiny_model_dir / METADATA_FILE).read_text())["training"]
    assert (training["train_steps"], training["train_epochs"]) == (150, 2.0)


def test_missing_model_gives_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="make model"):
        TorchClassifier(tmp_path)


def test_a_balanced_subsample_gives_clean_units_half_and_the_labels_equal_shares():
    # 600 clean, 300 excuse, 12 repair and 100 of each other label: repair has fewer than its share
    sizes = {"": 600} | dict.fromkeys(LABELS, 100) | {"excuse": 300, "repair": 12}
    rows = [
        UnitRow(f"{label}-{i}", f"{label} {i}", "", (label,) if label else ())
        for label, n in sizes.items()
        for i in range(n)
    ]
    picked = subsample_rows(rows, 400, seed=3, balanced=True)
    by_label = Counter(r.labels[0] if r.labels else "" for r in picked)
    assert len(picked) == 400 and len({r.example_id for r in picked}) == 400
    assert by_label["repair"] == 12  # repair has fewer than its share; the others share what it lacks
    assert 200 <= by_label[""] <= 205  # clean weighs as much as the ten labels together
    assert {by_label[label] for label in LABELS if label != "repair"} <= {20, 21}
    assert picked == sorted(picked, key=rows.index)  # corpus order kept
    assert subsample_rows(rows, 400, seed=3, balanced=True) == picked
    assert Counter(r.labels[0] if r.labels else "" for r in subsample_rows(rows, 400, seed=3))["excuse"] > 60


def test_threshold_tuning_picks_the_separating_value():
    y = np.zeros((6, len(LABELS)), dtype=np.float32)
    y[:3, 0] = 1
    proba = np.full((6, len(LABELS)), 0.05, dtype=np.float32)
    proba[:, 0] = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1]
    thresholds = tune_thresholds(y, proba, floor=0.3)
    assert 0.6 < thresholds[LABELS[0]] <= 0.7
    assert all(t >= 0.3 and t in THRESHOLD_GRID for t in thresholds.values())


def test_a_precision_weighted_threshold_needs_stronger_evidence():
    y = np.zeros((5, len(LABELS)), dtype=np.float32)
    y[[0, 1, 3], 0] = 1  # a positive that scores below a negative: no threshold separates them
    proba = np.full((5, len(LABELS)), 0.05, dtype=np.float32)
    proba[:, 0] = [0.9, 0.8, 0.6, 0.5, 0.2]
    assert 0.2 < tune_thresholds(y, proba, floor=0.1)[LABELS[0]] <= 0.5  # F1: take all three, and one false flag
    assert 0.6 < tune_thresholds(y, proba, floor=0.1, beta=0.5)[LABELS[0]] <= 0.8  # F0.5: only the sure two


def test_strengths_can_keep_their_own_beta():
    y = np.zeros((5, len(LABELS)), dtype=np.float32)
    proba = np.full((5, len(LABELS)), 0.05, dtype=np.float32)
    flag, strength = LABELS.index("excuse"), LABELS.index("ownership")
    for j in (flag, strength):  # the same hard case as above, once for a flag and once for a strength
        y[[0, 1, 3], j] = 1
        proba[:, j] = [0.9, 0.8, 0.6, 0.5, 0.2]
    tuned = tune_thresholds(y, proba, floor=0.1, beta=0.5, strengths_beta=1.0)
    assert 0.6 < tuned["excuse"] <= 0.8 and 0.2 < tuned["ownership"] <= 0.5
    assert tune_thresholds(y, proba, floor=0.1, beta=0.5)["ownership"] == tuned["excuse"]  # None: one beta


def test_epoch_averaging_keeps_the_mean_of_the_last_epochs_weights():
    import torch

    model = torch.nn.Linear(2, 1)
    average = epoch_average_callback(model, last_epochs=2, epochs=3)

    class State:
        epoch = 0.0

    for epoch, value in ((1, 10.0), (2, 2.0), (3, 4.0)):  # epoch 1 falls outside the last two
        with torch.no_grad():
            model.weight.fill_(value)
            model.bias.fill_(-value)
        State.epoch = float(epoch)
        average.on_epoch_end(None, State, None)
    assert average.apply() == 2
    assert torch.allclose(model.weight, torch.full((1, 2), 3.0)) and torch.allclose(model.bias, torch.tensor([-3.0]))


def test_freezing_the_word_embeddings_leaves_only_them_out_of_training():
    assert parse_args(["--freeze-word-embeddings"]).freeze_word_embeddings
    assert not parse_args([]).freeze_word_embeddings
    model = fresh_model(str(base_model_path()), dropout=0.0, freeze_word_embeddings=True)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {name for name, _ in model.named_parameters() if name.endswith("word_embeddings.weight")}
    assert len(frozen) == 1
    assert all(p.requires_grad for p in fresh_model(str(base_model_path()), dropout=0.0).parameters())


def test_a_recomposed_corpus_adds_its_train_units_read_in_their_new_neighbours(write_corpus):
    first = write_corpus("a", [("train", [("One.", []), ("Two.", [])]), ("test", [("Three.", [])])])
    other = write_corpus("b", [("train", [("Two.", []), ("One.", [])]), ("test", [("Three.", [])])])
    config = TrainConfig(corpus=first, recomposed=(other,), context_words=5)
    rows = training_rows(config, [json.loads(x) for x in first.read_text().splitlines()])
    assert [(r.text, r.context) for r in rows] == [
        ("One.", "Two."),
        ("Two.", "One."),
        ("Two.", "One."),
        ("One.", "Two."),
    ]
    assert parse_args(["--recomposed", str(other)]).recomposed == (other,)
    assert len(training_rows(TrainConfig(max_train_units=3, recomposed=(other,)), load_corpus(first))) == 3


def test_masking_spares_special_tokens_and_padding_and_is_off_at_zero():
    from transformers import AutoTokenizer, DataCollatorWithPadding

    from training.augment import MaskingCollator

    tokenizer = AutoTokenizer.from_pretrained(str(base_model_path()))
    features = [dict(tokenizer("I was tired, but you started it.", "and then")), dict(tokenizer("ok", ""))]
    plain = DataCollatorWithPadding(tokenizer)(features)
    off = MaskingCollator(tokenizer, 0.0)(features)
    assert all(off[k].equal(plain[k]) for k in plain)
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    masked = MaskingCollator(tokenizer, 0.9)(features)["input_ids"]
    hit = masked == tokenizer.mask_token_id
    special = torch.isin(plain["input_ids"], torch.tensor(tokenizer.all_special_ids))
    assert hit.any() and not (hit & special).any() and not (hit & (plain["attention_mask"] == 0)).any()
    assert masked[~hit].equal(plain["input_ids"][~hit])
    assert parse_args(["--mask-rate", "0.1"]).mask_rate == 0.1
    assert parse_command(["--recalibrate"])[1] and not parse_command([])[1]
    with pytest.raises(ValueError, match="mask rate"):
        MaskingCollator(tokenizer, 1.0)
