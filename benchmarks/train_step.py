"""Where a training step and the corpus embedding pass spend their time on this machine.

    python -m benchmarks.train_step [--steps 10] [--texts 2048]

Times one fine-tuning step of the classifier (forward, backward, optimizer) on a real batch of 32
train units of median length, with AdamW's default multi-tensor update and with ``fused=True``, as
``training/train.py`` uses; then ``training.embeddings.embed`` with batches sorted by length against
the same texts batched in corpus order, as the validator and the build embedded them before session
14. The step and embedding counts are bounded; absolute times drift on a shared machine, so compare
rows of one run.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def step_times(fused: bool, steps: int) -> dict[str, float]:
    """Median milliseconds of forward, backward and optimizer step over ``steps`` (after 2 warm-up)."""
    import torch
    from transformers import AutoTokenizer, DataCollatorWithPadding

    from service.segmenter import CONTEXT_WORDS
    from training.data import CORPUS_PATH
    from training.dataset import load_corpus, split_rows
    from training.embeddings import base_model_path
    from training.train import encode_rows, fresh_model

    torch.manual_seed(0)
    base = str(base_model_path())
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoded = encode_rows(tokenizer, split_rows(load_corpus(CORPUS_PATH), "train", CONTEXT_WORDS), CONTEXT_WORDS)
    middle = np.argsort([len(e["input_ids"]) for e in encoded], kind="stable")[len(encoded) // 2 :][:32]
    batch = DataCollatorWithPadding(tokenizer)([encoded[i] for i in middle])  # as the Trainer pads it
    labels = batch.pop("labels").float()
    model = fresh_model(base, dropout=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01, fused=fused)
    times: dict[str, list[float]] = {"forward_ms": [], "backward_ms": [], "optimizer_ms": []}
    for i in range(steps + 2):
        t0 = time.perf_counter()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(**batch).logits, labels)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad()
        t3 = time.perf_counter()
        if i >= 2:
            for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                times[key].append(value * 1000)
    out = {key: round(float(np.median(v)), 1) for key, v in times.items()}
    out["tokens_per_unit"] = int(batch["input_ids"].shape[1])
    return out


def embed_times(n: int) -> dict[str, float]:
    from training.data.pools import dedupe, load_pools
    from training.embeddings import embed

    texts = [s.text for s in dedupe(load_pools())[0]][:n]
    t0 = time.perf_counter()
    before = embed(texts, sort_by_length=False)
    t1 = time.perf_counter()
    after = embed(texts)
    t2 = time.perf_counter()
    return {
        "texts": len(texts),
        "corpus_order_s": round(t1 - t0, 1),
        "sorted_by_length_s": round(t2 - t1, 1),
        "max_abs_difference": float(np.abs(before - after).max()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per optimizer (at most 50)")
    parser.add_argument("--texts", type=int, default=2048, help="pool sentences to embed (at most 20,000)")
    args = parser.parse_args(argv)
    steps, texts = min(args.steps, 50), min(args.texts, 20_000)
    report = {
        "adamw_foreach": step_times(False, steps),
        "adamw_fused": step_times(True, steps),
        "embed": embed_times(texts),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
