"""Export the fine-tuned classifier to ONNX: graph-optimized, then int8 (dynamic quantization).

    python -m training.export [--model models/heartfelt-minilm]      (also `heartfelt export`, `make model`)

Recipe (measured in ../shared/ML_NOTES.md): the TorchScript-based exporter with eager attention, so
ONNX Runtime's BERT optimizer can fuse attention, layer norms and GELU; then dynamic int8
quantization of the weights. The file lands beside the weights as ``model.int8.onnx``, with its
SHA-256 and the export's agreement with the torch model recorded under ``onnx`` in ``heartfelt.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from service.classifier import METADATA_FILE, read_metadata
from service.onnx_backend import sha256

ONNX_FILE = "model.int8.onnx"
OPSET = 17
# Inputs that exercise the dynamic batch and sequence axes while tracing.
_TRACE_PAIRS = [
    ("I'm sorry if you were hurt.", "But you're overreacting."),
    ("Thanks for the notes from today's meeting, they were clear and useful.", ""),
]


def _export_fp32(model_dir: Path, path: Path) -> None:
    import torch
    from transformers import AutoTokenizer

    from service.modeling import HeartfeltClassifier

    class Exported(torch.nn.Module):
        """Logits and the pooled unit vector: what the serving backends need from one pass."""

        def __init__(self, model: HeartfeltClassifier) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.logits, self.model.last_pooled

    model = HeartfeltClassifier.from_pretrained(model_dir, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    units, contexts = zip(*_TRACE_PAIRS, strict=True)
    enc = tokenizer(list(units), list(contexts), padding=True, return_tensors="pt")
    with torch.inference_mode():
        trace_to_onnx(Exported(model), enc, path, ["logits", "pooled"])


def trace_to_onnx(module, enc, path: Path, outputs: list[str]) -> None:
    """The TorchScript exporter (the one whose graph ONNX Runtime's BERT optimizer fuses) with dynamic
    batch and sequence axes; ``enc`` is a tokenizer's output to trace with."""
    import torch

    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(
        module,
        tuple(enc[name] for name in inputs),
        str(path),
        input_names=inputs,
        output_names=outputs,
        dynamic_axes={
            **{name: {0: "batch", 1: "sequence"} for name in inputs},
            **{name: {0: "batch"} for name in outputs},
        },
        opset_version=OPSET,
        dynamo=False,
    )


def optimize_and_quantize(fp32: Path, out: Path, config: dict, int8_embeddings: bool = False) -> dict[str, int]:
    """ONNX Runtime's BERT fusions, then dynamic int8; returns the fusions applied (``config``: the
    model's ``config.json``; ``int8_embeddings`` quantizes the embedding tables too, a quarter of the
    size, for a model whose outputs need less fidelity than the classifier's)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    fused = fp32.with_name(fp32.stem + ".fused.onnx")
    optimized = optimize_model(
        str(fp32),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
    )
    fusions = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    optimized.save_model_to_file(str(fused))
    quantize_dynamic(
        str(fused),
        str(out),
        weight_type=QuantType.QInt8,
        # Per-channel scales and fp32 embeddings keep label decisions closest to fp32 torch
        # (validation split: 99.6% of decisions agree, against 99.1% per-tensor with int8 embeddings).
        per_channel=True,
        # 7-bit weights: without VNNI, x86 int8 kernels can saturate u8*s8 sums (ONNX Runtime's
        # advice); here it moved test macro-F1 from 0.776 to 0.785 (fp32 torch: 0.786).
        reduce_range=True,
        op_types_to_quantize=["MatMul", "Attention"] + (["EmbedLayerNormalization"] if int8_embeddings else []),
        # Without a default tensor type the quantizer cannot type the fused graph's weights.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return fusions


def export(model_dir: str | Path, check: bool = True) -> dict:
    """Write ``model.int8.onnx`` into ``model_dir`` and record it in ``heartfelt.json``; returns that record."""
    model_dir = Path(model_dir)
    meta = read_metadata(model_dir)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    out = model_dir / ONNX_FILE
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx"
        _export_fp32(model_dir, fp32)
        fusions = optimize_and_quantize(fp32, out, config)
    record = {
        "file": ONNX_FILE,
        "sha256": sha256(out),
        "opset": OPSET,
        "quantization": "dynamic int8 (reduce_range), per-channel MatMul and Attention weights, after BERT fusions",
        "fusions": fusions,
    }
    meta["onnx"] = record
    _write(model_dir, meta)
    if check:
        record["agreement_smoke"] = meta["onnx"]["agreement_smoke"] = _smoke_agreement(model_dir)
        _write(model_dir, meta)
    return record


def _write(model_dir: Path, meta: dict) -> None:
    (model_dir / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _smoke_agreement(model_dir: Path) -> float:
    """Share of label decisions on a few sentences where int8 ONNX and fp32 torch agree (a sanity check;
    the full comparison over the test split is ``python -m training.evaluate --compare-backends``)."""
    from service.classifier import TorchClassifier
    from service.onnx_backend import OnnxClassifier

    units = [u for u, _ in _TRACE_PAIRS] + ["you made me do it", "I'll give you all the time you need."]
    contexts = [""] * len(units)
    torch_clf, onnx_clf = TorchClassifier(model_dir), OnnxClassifier(model_dir, verify=False)
    a = torch_clf.decide(torch_clf.predict_proba(units, contexts))
    b = onnx_clf.decide(onnx_clf.predict_proba(units, contexts))
    return float(np.mean(a == b))


def main(argv: list[str] | None = None) -> int:
    from service.settings import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=get_settings().model_path)
    args = parser.parse_args(argv)
    record = export(args.model)
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
