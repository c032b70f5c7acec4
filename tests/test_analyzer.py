"""The analyzer on a real (tiny) model: the contract, offsets, batching, score and summary."""

import numpy as np
import pytest

from service.analyzer import Analyzer, InvalidTextError
from service.labels import FLAGS, LABELS
from service.schemas import Analysis, Flag, StrengthSpan
from service.scoring import message_score, summarize


def test_analysis_follows_the_contract(tiny_analyzer):
    text = "I messed up. 🙃 you're being dramatic tbh\nI'll give you space until Sunday."
    analysis = tiny_analyzer.analyze(text)
    Analysis.model_validate(analysis.model_dump())
    for flag in analysis.flags:
        assert text[flag.start : flag.end] == flag.text
        assert flag.category == FLAGS[flag.pattern].category
        assert flag.explanation and flag.impact
    for strength in analysis.strengths:
        assert text[strength.start : strength.end] == strength.text


def test_batched_analysis_equals_one_by_one(tiny_analyzer):
    texts = ["Sorry for everything.", "Calm down, it was a joke. I'm sorry I said it.", "Lunch at noon?"]
    together = tiny_analyzer.analyze_many(texts)
    alone = [tiny_analyzer.analyze(t) for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert [(f.start, f.pattern) for f in a.flags] == [(f.start, f.pattern) for f in b.flags]
        for fa, fb in zip(a.flags, b.flags, strict=True):
            assert fa.score == fb.score  # a unit's scores never depend on its company in a batch


def test_one_forward_pass_per_message(tiny_analyzer):
    calls = []
    real = tiny_analyzer.classifier

    class Counting:
        info, context_words = real.info, real.context_words

        def predict(self, units, contexts):
            calls.append(len(units))
            return real.predict(units, contexts)

        def predict_proba(self, units, contexts):
            return self.predict(units, contexts)[0]

        def decide(self, proba):
            return real.decide(proba)

    Analyzer(Counting()).analyze("One. Two, but three. Four; five.")
    assert calls == [5]


@pytest.mark.parametrize("bad", ["", "  \n\t", None, 12])
def test_invalid_text_is_rejected_without_quoting_it(tiny_analyzer, bad):
    with pytest.raises(InvalidTextError):
        tiny_analyzer.analyze(bad)


def test_text_over_the_limit_is_rejected(tiny_analyzer):
    with pytest.raises(InvalidTextError, match="limit is 5000"):
        tiny_analyzer.analyze("a" * 5001)


def _flag(pattern: str) -> Flag:
    info = FLAGS[pattern]
    return Flag(start=0, end=1, text="x", category=info.category, pattern=pattern, score=0.9,
                explanation=info.explanation, impact=info.impact)  # fmt: skip


def _strength(kind: str) -> StrengthSpan:
    return StrengthSpan(start=0, end=1, text="x", strength=kind, score=0.9, impact="heard")


def test_score_formula():
    assert message_score([], []) == 50
    assert message_score([], [_strength(s) for s in ("ownership", "validation", "repair", "patience")]) == 100
    assert message_score([_flag("blame"), _flag("minimize")], [_strength("ownership")]) == 32  # 50 + 12.5 - 30
    assert message_score([_flag("blame")] * 5, []) == 0


def test_summary_names_feelings_and_what_works():
    text = summarize([_flag("non_apology"), _flag("minimize")], [_strength("repair")])
    assert "dismissed" in text and "belittled" in text and "a non-apology" in text and "concrete" in text
    assert "land well" in summarize([], [_strength("validation")])


def test_label_order_is_the_model_output_order():
    assert LABELS[:6] == tuple(FLAGS) and len(set(LABELS)) == 10
    assert np.array(LABELS).shape == (10,)
