"""The base-encoder embeddings behind the corpus checks: the validator's int8 shortlist must give the
fp32 encoder's verdicts."""

import numpy as np

from training.data.validate import LEAK_COSINE, Report, check_embedding_leakage
from training.embeddings import SHORTLIST_MARGIN, embed, nearest

KEYS = [
    "I forgot your birthday and I have no excuse for it.",
    "The bus to the stadium leaves at seven from the north gate.",
    "Preheat the oven to 200 degrees before the dough goes in.",
    "you're overreacting, it was one drink",
]
QUERIES = [
    "I forgot your birthday, and there is no excuse for that.",
    "The stadium bus leaves from the north gate at seven.",
    "can we just move on already",
    "honestly you are overreacting, it was only one drink",
]


def test_the_shortlist_gives_fp32s_nearest_key_wherever_it_reaches_the_cut():
    q32, k32 = embed(QUERIES), embed(KEYS)
    q8, k8 = embed(QUERIES, backend="onnx"), embed(KEYS, backend="onnx")
    assert q8.shape == q32.shape == (len(QUERIES), 384)
    assert np.allclose(np.linalg.norm(q8, axis=1), 1.0, atol=1e-5)
    # The shortlist reaches SHORTLIST_MARGIN below a cut: int8 must stray from fp32 by less than that.
    assert np.abs(q8 @ k8.T - q32 @ k32.T).max() < SHORTLIST_MARGIN / 2
    cut = 0.6
    best, cosine = nearest(QUERIES, KEYS, cut)
    reference = q32 @ k32.T
    reached = reference.max(axis=1) >= cut
    assert reached.sum() >= 3  # the paraphrases; "move on" has no near key
    assert (best[reached] == reference.argmax(axis=1)[reached]).all()
    assert np.allclose(cosine[reached], reference.max(axis=1)[reached], atol=1e-5)
    assert (cosine[~reached] < cut).all()


def test_the_leakage_pass_names_a_paraphrased_held_out_unit():
    by_split = {
        "train": [(1, KEYS[0]), (1, KEYS[2])],
        "validation": [(2, QUERIES[2])],
        "test": [(3, QUERIES[0]), (3, KEYS[1])],
    }
    report = Report()
    check_embedding_leakage(by_split, report)
    assert len(report.problems) == 1
    assert report.problems[0].startswith("corpus.jsonl:3: test unit") and "near-duplicate" in report.problems[0]
    assert LEAK_COSINE <= report.counts["max_cross_split_cosine"] < 1.0
