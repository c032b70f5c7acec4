"""Train-time noise on the model's input: word pieces replaced by ``[MASK]`` at random.

A unit's label should not hang on one word piece. Masking a share of them in each batch makes the
classifier read the rest of the sentence, at no extra training steps (the batches are the same).
"""

from __future__ import annotations

import torch
from transformers import DataCollatorWithPadding


class MaskingCollator:
    """:class:`DataCollatorWithPadding` that then masks each non-special token with probability ``rate``.

    Draws come from torch's global generator, which ``transformers.set_seed`` fixes, so a build is
    still reproducible from its seed.
    """

    def __init__(self, tokenizer, rate: float) -> None:
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"mask rate must be in [0, 1), got {rate}")
        self.pad = DataCollatorWithPadding(tokenizer)
        self.rate = rate
        self.mask_id = tokenizer.mask_token_id
        self.special = torch.tensor(sorted(set(tokenizer.all_special_ids)))

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.pad(features)
        if self.rate:
            ids = batch["input_ids"]
            maskable = ~torch.isin(ids, self.special) & batch["attention_mask"].bool()
            hit = maskable & (torch.rand(ids.shape) < self.rate)
            batch["input_ids"] = ids.masked_fill(hit, self.mask_id)
        return batch
