"""The corpus ships with its own checks: they must pass, and they must catch real mistakes."""

import json
import shutil
from pathlib import Path

import pytest

from service.segmenter import segment
from training.data import CORPUS_PATH, SENTENCES_DIR
from training.data.build import _message, assign_splits, kept_messages
from training.data.pools import Clause, PoolError, Sentence, normalise, parse_line
from training.data.validate import validate
from training.dataset import load_corpus

SHARED_GUIDE = Path(__file__).resolve().parents[2] / "shared" / "LABEL_GUIDE.md"
REPO_GUIDE = Path(__file__).resolve().parents[1] / "training" / "LABEL_GUIDE.md"


@pytest.fixture(scope="module")
def report():
    return validate(embeddings=True)


def test_validator_passes_on_the_shipped_corpus(report):
    assert report.problems == []


def test_counts_meet_the_corpus_bar(report):
    counts = report.counts
    assert min(counts["per_label"].values()) >= 250
    assert counts["clean_sentences"] >= 3000 and counts["everyday_clean_sentences"] >= 2000
    assert len(counts["everyday_genres"]) >= 20 and counts["hard_negatives"] >= 600
    assert len(counts["situations"]) >= 10 and len(counts["registers"]) >= 4
    assert counts["multi_sentence_share"] >= 0.40
    assert counts["split_unit_shares"]["test"] >= 0.15 and counts["split_unit_shares"]["validation"] >= 0.10
    assert counts["max_cross_split_cosine"] < 0.92


# Some pool lines hold several short sentences written as one unit ("Useless of me. Sorry. Forgot."),
# which the analyzer splits; agreement measured 89.8% on this corpus. Raise as those lines are split.
MIN_SEGMENTATION_AGREEMENT = 0.88


def test_the_analyzer_segments_corpus_messages_as_annotated():
    examples = load_corpus()
    agree = sum(
        [(u.start, u.end) for u in segment(ex["text"])] == [(u["start"], u["end"]) for u in ex["units"]]
        for ex in examples
    )
    assert agree / len(examples) >= MIN_SEGMENTATION_AGREEMENT


def _corrupt_copy(tmp_path: Path, edit) -> Path:
    lines = CORPUS_PATH.read_text(encoding="utf-8").splitlines()
    lines[4] = json.dumps(edit(json.loads(lines[4])))
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_validator_names_the_line_with_bad_offsets(tmp_path):
    def shift(ex):
        ex["units"][0]["end"] = len(ex["text"]) + 5
        return ex

    report = validate(_corrupt_copy(tmp_path, shift), embeddings=False)
    assert any(p.startswith("corpus.jsonl:5:") and "offsets" in p for p in report.problems)


def test_validator_catches_a_test_sentence_leaking_into_train(tmp_path):
    examples = load_corpus()
    test_text = next(ex["text"] for ex in examples if ex["split"] == "test" and len(ex["units"]) == 1)

    def leak(ex):
        return {**ex, "text": test_text, "units": [{"start": 0, "end": len(test_text), "labels": []}], "split": "train"}

    report = validate(_corrupt_copy(tmp_path, leak), embeddings=False)
    assert any("also appears in train" in p for p in report.problems)


def test_validator_rejects_unknown_labels(tmp_path):
    def relabel(ex):
        ex["units"][0]["labels"] = ["sarcasm"]
        return ex

    report = validate(_corrupt_copy(tmp_path, relabel), embeddings=False)
    assert any(p.startswith("corpus.jsonl:5:") and "unknown labels" in p for p in report.problems)


def test_pool_lines_are_checked_with_file_and_line():
    with pytest.raises(PoolError, match=r"x\.jsonl:3: clause texts"):
        parse_line(
            json.dumps({"text": "a, but b", "labels": [], "situation": "none", "register": "terse",
                        "genre": "plans", "clauses": [{"text": "a,", "labels": []}, {"text": "b", "labels": []}]}),
            "x.jsonl:3",
        )  # fmt: skip


def test_validator_fails_when_pools_change_without_a_rebuild(tmp_path):
    pools = tmp_path / "sentences"
    shutil.copytree(SENTENCES_DIR, pools)
    with (pools / "clean_everyday_1.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "The ferry leaves at noon sharp.", "labels": [], "situation": "none",
                             "register": "careful", "genre": "travel"}) + "\n")  # fmt: skip
    report = validate(CORPUS_PATH, pools, embeddings=False)
    assert any("rebuild" in p for p in report.problems)


@pytest.mark.skipif(not SHARED_GUIDE.is_file(), reason="../shared is not checked out beside the repo")
def test_label_guide_copy_is_in_sync():
    assert REPO_GUIDE.read_text(encoding="utf-8") == SHARED_GUIDE.read_text(encoding="utf-8")


def test_sentences_keep_their_split_when_the_pools_grow():
    def sentence(text: str) -> Sentence:
        return Sentence(text, (), "none", "terse", "questions", False)

    old = [sentence(f"old question number {i}?") for i in range(50)]
    new = [sentence(f"new question number {i}?") for i in range(50)]
    was = ["test"] * 9 + ["validation"] * 6 + ["train"] * 35
    previous = {normalise(s.text): split for s, split in zip(old, was, strict=True)}
    groups = list(range(100))
    groups[50] = 0  # a new near-twin of an old test sentence
    groups[20] = groups[51] = 1  # a new sentence bridging an old train and an old test sentence
    splits = assign_splits(old + new, groups, previous=previous)
    assert [splits[i] for i in range(50) if i != 20] == [sp for i, sp in enumerate(was) if i != 20]
    assert splits[50] == "test" and splits[20] == splits[51] == "test"  # held out wins: nothing leaks
    shares = {sp: splits.count(sp) for sp in ("train", "validation", "test")}
    assert abs(shares["train"] - 70) <= 2 and abs(shares["validation"] - 12) <= 2 and abs(shares["test"] - 18) <= 2


def test_messages_are_kept_when_the_pools_grow():
    def sentence(text: str, labels: tuple[str, ...], *clauses: tuple[str, tuple[str, ...]]) -> Sentence:
        parts, offset = [], 0
        for part, part_labels in clauses:
            parts.append(Clause(offset, part, part_labels))
            offset += len(part) + 1
        return Sentence(text, labels, "friendship", "careful", None, False, tuple(parts))

    hurt = "I'm sorry if you were hurt,"
    started = sentence(f"{hurt} but you started it.", ("non_apology", "blame"),
                       (hurt, ("non_apology",)), ("but you started it.", ("blame",)))  # fmt: skip
    tired = sentence(f"{hurt} but I was tired.", ("non_apology", "excuse"),
                     (hurt, ("non_apology",)), ("but I was tired.", ("excuse",)))  # fmt: skip
    lied = sentence("I lied about Friday.", ("ownership",))
    move_on = sentence("Can we move on?", ("pressure",))
    old = [_message([tired, lied], "test", "composed"), _message([move_on], "train", "written")]

    relabelled = sentence("I lied about Friday.", ("vague",))  # a label fixed in the pools since
    pools = [started, tired, relabelled, move_on, sentence("A new line.", ())]
    kept, used = kept_messages(old, pools, ["test", "test", "test", "validation", "train"])
    # the first message is made again from the same sentences (not `started`, which opens the same way),
    # with the pools' labels; the second is not kept, since its sentence has moved to another split
    assert [(m["id"], m["text"]) for m in kept] == [(old[0]["id"], old[0]["text"])]
    assert used == {1, 2}
    assert [u["labels"] for u in kept[0]["units"]] == [["non_apology"], ["excuse"], ["vague"]]


def test_the_committed_corpus_keeps_every_message_it_can():
    """Rebuilding from the committed pools reads every committed message back (none recomposed)."""
    from training.data.build import previous_examples, unit_splits
    from training.data.pools import dedupe, load_pools

    examples = previous_examples(CORPUS_PATH)
    sentences, _ = dedupe(load_pools())
    split_of = unit_splits(examples)
    splits = [split_of.get(normalise(s.clauses[0].text if s.clauses else s.text), "train") for s in sentences]
    kept, used = kept_messages(examples, sentences, splits)
    assert len(kept) == len(examples) and len(used) == len(sentences)


def test_validator_rejects_public_writing_that_is_labelled_or_repeats_the_corpus(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    text = next(ex["text"] for ex in load_corpus() if len(ex["units"]) == 1)  # a whole written sentence
    lines = [
        {"text": "Nobody in this thread asked, but fine.", "labels": ["minimize"], "situation": "none",
         "register": "terse", "genre": "forum_comment"},
        {"text": text, "labels": [], "situation": "none", "register": "careful", "genre": "forum_comment"},
        {"text": "Refs decided that match, not the players.", "labels": [], "situation": "none",
         "register": "careful", "genre": "sports"},
    ]  # fmt: skip
    (public / "x.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = validate(embeddings=False, public_dir=public)
    assert any(p.startswith("public/x.jsonl:1:") and "clean everyday" in p for p in report.problems)
    assert any(p.startswith("public/x.jsonl:2:") and "corpus sentence" in p for p in report.problems)
    assert not any(p.startswith("public/x.jsonl:3:") for p in report.problems)
    assert report.counts["public_texts"] == 3


def test_label_noise_review_names_the_split_of_every_pool_unit():
    """A reviewer must know whether a label fix touches train, validation or test."""
    from training.data.build import previous_splits
    from training.label_noise import pool_units

    splits = previous_splits(CORPUS_PATH)
    assert set(splits.values()) == {"train", "validation", "test"}
    assert [text for _, text, _ in pool_units() if normalise(text) not in splits] == []
