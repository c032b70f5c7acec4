"""The quality gate on the full model that `make model` builds (make test builds it first)."""

import pytest

from service.analyzer import Analyzer
from training.dataset import load_corpus
from training.evaluate import REALWORLD_PATH, evaluate_split, read_realworld, realworld_flags

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def test_report(full_analyzer):
    return evaluate_split(full_analyzer.classifier, load_corpus(), "test")


def test_macro_f1_over_flag_patterns_on_held_out_test(test_report):
    assert test_report["macro_f1_flags"] >= 0.90, test_report["per_label"]


def test_clean_test_messages_are_rarely_flagged(test_report):
    assert test_report["clean_message_flag_rate"] <= 0.05


def test_the_readme_example_gets_two_flags_with_offsets(full_analyzer):
    text = "I'm sorry if you were hurt, but you're overreacting."
    flags = full_analyzer.analyze(text).flags
    assert [(f.start, f.end, f.pattern) for f in flags] == [(0, 27, "non_apology"), (28, 52, "minimize")]
    assert all(f.explanation and f.impact for f in flags)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sorry, running 5 minutes late.", set()),
        ("I'm so sorry for your loss.", set()),
        ("I'm sorry for everything.", {"vague"}),
        ("You made me laugh so hard at dinner.", set()),
        ("You're not overreacting, this was serious.", set()),
        ("Can we just move on already?", {"pressure"}),
    ],
)
def test_meaning_not_keywords(full_analyzer, text, expected):
    assert {f.pattern for f in full_analyzer.analyze(text).flags} == expected


@pytest.mark.skipif(not REALWORLD_PATH.is_file(), reason="../shared/data is not beside the repo")
def test_real_conflict_free_comments_are_rarely_flagged(full_analyzer):
    rate, _ = realworld_flags(Analyzer(full_analyzer.classifier, max_length=100_000), read_realworld(REALWORLD_PATH))
    assert rate < 0.03
