"""The int8 ONNX backend: export, checksum, agreement with torch, and a serving path without torch."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from transformers import AutoTokenizer

from service.classifier import MAX_LENGTH, METADATA_FILE, ModelNotFoundError, TorchClassifier
from service.labels import LABELS
from service.loader import load_classifier
from service.onnx_backend import ChecksumError, OnnxClassifier, sha256

UNITS = [
    "I'm sorry if you were hurt.",
    "you made me do it tbh 🙃",
    "I'll give you all the time you need, and I'll answer any question.",
    "The train leaves at nine from platform four.",
    "Ça va? — 😊👍🏽 ok!",
    "I lied about Friday, and there's no excuse for it. " * 12,  # longer than MAX_LENGTH tokens with context
]
CONTEXTS = ["But you're overreacting.", "", "I lied.", "", "", "Please talk to me."]


def test_export_is_fused_quantized_and_recorded(tiny_model_dir):
    record = json.loads((tiny_model_dir / METADATA_FILE).read_text())["onnx"]
    path = tiny_model_dir / record["file"]
    assert record["sha256"] == sha256(path)
    assert record["fusions"]["Attention"] == 6 and record["fusions"]["SkipLayerNormalization"] == 12
    # int8 encoder weights; the word embeddings stay fp32 (a lookup: no speed to gain, some accuracy to lose)
    assert path.stat().st_size < 0.7 * (tiny_model_dir / "model.safetensors").stat().st_size


def test_tokenizers_only_encoding_matches_the_training_tokenizer(tiny_model_dir):
    onnx = OnnxClassifier(tiny_model_dir)
    hf = AutoTokenizer.from_pretrained(tiny_model_dir)
    for got, unit, context in zip(onnx.encode(UNITS, CONTEXTS), UNITS, CONTEXTS, strict=True):
        expected = hf(unit, context or None, truncation="longest_first", max_length=MAX_LENGTH)
        assert got.ids == expected["input_ids"]
        assert got.type_ids == expected["token_type_ids"]


def test_int8_onnx_agrees_with_fp32_torch(tiny_model_dir):
    torch_clf, onnx_clf = TorchClassifier(tiny_model_dir), OnnxClassifier(tiny_model_dir)
    p_torch, v_torch = torch_clf.predict(UNITS, CONTEXTS)
    p_onnx, v_onnx = onnx_clf.predict(UNITS, CONTEXTS)
    assert p_onnx.shape == (len(UNITS), len(LABELS)) and v_onnx.shape == v_torch.shape
    assert np.abs(p_onnx - p_torch).max() < 0.08  # int8 moves probabilities a little, not decisions wholesale
    assert (np.sum(v_onnx * v_torch, axis=1) > 0.98).all()  # the same embedding direction
    np.testing.assert_allclose(np.linalg.norm(v_onnx, axis=1), 1.0, atol=1e-5)


def test_a_units_scores_do_not_depend_on_its_company(tiny_model_dir):
    """Dynamic int8 scales activations per tensor; the backend runs each pair alone so a rewrite checked
    in one call reads the same when analyzed again in another (this once moved scores by up to 0.2)."""
    parallel, serial = OnnxClassifier(tiny_model_dir, num_threads=2), OnnxClassifier(tiny_model_dir, num_threads=1)
    p_all, v_all = parallel.predict(UNITS, CONTEXTS)
    for i, (unit, context) in enumerate(zip(UNITS, CONTEXTS, strict=True)):
        p_one, v_one = serial.predict([unit], [context])
        np.testing.assert_array_equal(p_one[0], p_all[i])  # and back in input order
        np.testing.assert_array_equal(v_one[0], v_all[i])
    p_rev, _ = parallel.predict(UNITS[::-1], CONTEXTS[::-1])
    np.testing.assert_array_equal(p_rev[::-1], p_all)


def test_backend_choice(tiny_model_dir, tmp_path):
    assert load_classifier(tiny_model_dir).backend == "onnx"  # auto: the export exists
    assert load_classifier(tiny_model_dir, "torch").backend == "torch"
    no_export = tmp_path / "no-export"
    shutil.copytree(tiny_model_dir, no_export, ignore=shutil.ignore_patterns("model.int8.onnx"))
    assert load_classifier(no_export).backend == "torch"
    with pytest.raises(ModelNotFoundError, match="heartfelt export"):
        load_classifier(no_export, "onnx")
    with pytest.raises(ValueError, match="unknown backend"):
        load_classifier(tiny_model_dir, "tensorflow")


def test_a_tampered_export_is_refused(tiny_model_dir, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(tiny_model_dir, copy)
    with (copy / "model.int8.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ChecksumError, match="heartfelt export"):
        OnnxClassifier(copy)


def test_serving_path_never_imports_torch_or_transformers(tiny_model_dir):
    probe = (
        "import sys\n"
        "from service.loader import load_rewriter\n"
        "from service.settings import Settings\n"
        f"rewriter = load_rewriter(Settings(model_path={str(tiny_model_dir)!r}))\n"
        "rewriter.rewrite(\"I'm sorry if you were hurt, but you're overreacting.\")\n"
        "rewriter.analyzer.analyze('Sorry, running late.')\n"
        "import service.api\n"
        "service.api.create_app(Settings(model_path=" + repr(str(tiny_model_dir)) + "))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_pair_cache_answers_repeats_exactly_and_stays_bounded(tiny_model_dir):
    cold = OnnxClassifier(tiny_model_dir, num_threads=2)
    warm = OnnxClassifier(tiny_model_dir, num_threads=2, cache_size=4)
    expected = cold.predict(UNITS, CONTEXTS)
    first = warm.predict(UNITS, CONTEXTS)
    assert warm.cache.hits == 0 and len(warm.cache) == 4  # six pairs read, the four most recent kept
    again = warm.predict(UNITS[::-1], CONTEXTS[::-1])
    assert warm.cache.hits == 4  # the last four pairs, in any order
    for got in (first, again):
        order = slice(None) if got is first else slice(None, None, -1)
        np.testing.assert_array_equal(got[0][order], expected[0])  # bit-identical: each pair runs alone
        np.testing.assert_array_equal(got[1][order], expected[1])
    assert not any(UNITS[0] in repr(key) for key in warm.cache._rows)  # digests, never the text
